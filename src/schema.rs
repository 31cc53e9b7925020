// @generated shape of `diesel print-schema` (see diesel.toml); keep in step with migrations/.

diesel::table! {
    admin_log (id) {
        id -> Uuid,
        user_id -> Nullable<Uuid>,
        #[max_length = 150]
        username -> Varchar,
        #[max_length = 50]
        object_type -> Varchar,
        #[max_length = 64]
        object_id -> Varchar,
        #[max_length = 200]
        object_repr -> Varchar,
        #[max_length = 20]
        action -> Varchar,
        change_message -> Text,
        changes -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    articles (id) {
        id -> Uuid,
        #[max_length = 50]
        name -> Varchar,
        body -> Text,
        author_id -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    cognito_signouts (issuer, sub) {
        issuer -> Text,
        #[max_length = 128]
        sub -> Varchar,
        signed_out_at -> Timestamptz,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    failed_logins (id) {
        id -> Uuid,
        #[max_length = 254]
        username -> Varchar,
        ip -> Nullable<Inet>,
        #[max_length = 255]
        user_agent -> Varchar,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    group_permissions (group_id, permission_id) {
        group_id -> Uuid,
        permission_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    groups (id) {
        id -> Uuid,
        #[max_length = 150]
        name -> Varchar,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    hook_signatures (signature) {
        signature -> Bytea,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    permissions (id) {
        id -> Uuid,
        #[max_length = 100]
        codename -> Varchar,
        #[max_length = 255]
        name -> Varchar,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    revoked_tokens (id) {
        id -> Uuid,
        #[max_length = 255]
        jti -> Varchar,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        issuer -> Text,
        #[max_length = 128]
        sub -> Varchar,
    }
}

diesel::table! {
    staff_sessions (id_hash) {
        id_hash -> Bytea,
        user_id -> Uuid,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    web_revocations (session_id) {
        session_id -> Uuid,
        refresh_token -> Bytea,
        attempts -> Int4,
        not_before -> Timestamptz,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    web_sessions (id) {
        id -> Uuid,
        id_hash -> Bytea,
        user_id -> Uuid,
        #[max_length = 255]
        sign_in_id -> Varchar,
        access_token -> Bytea,
        refresh_token -> Bytea,
        access_expires_at -> Timestamptz,
        expires_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        #[max_length = 512]
        user_agent -> Varchar,
        ip -> Nullable<Inet>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    web_sign_ins (state_hash) {
        state_hash -> Bytea,
        browser_hash -> Bytea,
        code_verifier -> Bytea,
        #[max_length = 64]
        nonce -> Varchar,
        #[max_length = 2048]
        next_path -> Varchar,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    user_groups (user_id, group_id) {
        user_id -> Uuid,
        group_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    user_permissions (user_id, permission_id) {
        user_id -> Uuid,
        permission_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        #[max_length = 150]
        username -> Varchar,
        #[max_length = 254]
        email -> Varchar,
        password_hash -> Nullable<Text>,
        #[max_length = 128]
        cognito_sub -> Nullable<Varchar>,
        email_verified -> Bool,
        #[max_length = 150]
        first_name -> Varchar,
        #[max_length = 150]
        last_name -> Varchar,
        is_active -> Bool,
        is_staff -> Bool,
        is_superuser -> Bool,
        last_login -> Nullable<Timestamptz>,
        session_epoch -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        cognito_issuer -> Nullable<Text>,
    }
}

diesel::joinable!(admin_log -> users (user_id));
diesel::joinable!(articles -> users (author_id));
diesel::joinable!(group_permissions -> groups (group_id));
diesel::joinable!(group_permissions -> permissions (permission_id));
diesel::joinable!(staff_sessions -> users (user_id));
diesel::joinable!(user_groups -> groups (group_id));
diesel::joinable!(user_groups -> users (user_id));
diesel::joinable!(user_permissions -> permissions (permission_id));
diesel::joinable!(user_permissions -> users (user_id));
diesel::joinable!(web_sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    admin_log,
    articles,
    cognito_signouts,
    failed_logins,
    group_permissions,
    groups,
    hook_signatures,
    permissions,
    revoked_tokens,
    staff_sessions,
    user_groups,
    user_permissions,
    users,
    web_revocations,
    web_sessions,
    web_sign_ins,
);
