//! Integration tests: the real app on 127.0.0.1 port 0, each test on a fresh PostgreSQL database.
//! One test binary (one link step) with a module per feature.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod admin_auth;
mod admin_helpers;
mod admin_models;
mod admin_privileges;
mod admin_scale;
mod admin_users;
mod architecture;
mod articles;
mod browser;
mod cli;
mod cognito;
mod concurrency;
mod cors;
mod docs;
#[path = "../support/fake_cognito.rs"]
mod fake_cognito;
mod fake_cognito_tests;
mod faults;
mod fuzz;
mod health;
mod helpers;
mod hooks;
mod machine_tokens;
mod migrations;
#[path = "../support/minting.rs"]
mod minting;
mod openapi;
mod pages;
mod revocation;
mod schema;
mod seed;
mod staff_login;
#[path = "../support/template_db.rs"]
mod template_db;
mod tokens;
mod web_account;
mod web_failures;
mod web_harness;
mod web_sign_in;
