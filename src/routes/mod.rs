//! Routes that belong to neither door: probes, the home page, static assets.

pub mod health;
pub mod pages;
pub mod static_files;
