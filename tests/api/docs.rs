//! The README documents what the code reads.

#[test]
fn readme_lists_every_setting() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for var in gatehouse::config::VARIABLES {
        assert!(
            readme.contains(&format!("| `{var}` |")),
            "README's settings table lacks {var}"
        );
    }
}

#[test]
fn readme_documents_every_api_error_code() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for code in [
        "missing_token",
        "invalid_request",
        "malformed_token",
        "unsupported_algorithm",
        "unknown_key",
        "invalid_signature",
        "token_expired",
        "token_not_yet_valid",
        "invalid_issuer",
        "invalid_audience",
        "invalid_token_use",
        "invalid_claims",
        "token_revoked",
        "user_inactive",
        "user_not_provisioned",
        "user_required",
        "insufficient_scope",
        "forbidden_group",
        "jwks_unavailable",
        "cognito_not_configured",
        "database_unavailable",
        "malformed_json",
        "malformed_body",
        "validation_error",
        "unsupported_media_type",
        "payload_too_large",
        "not_found",
        "method_not_allowed",
        "permission_denied",
        "precondition_failed",
        "missing_signature",
        "signature_expired",
        "internal_error",
    ] {
        assert!(
            readme.contains(&format!("| `{code}` |")),
            "README's error table lacks {code}"
        );
    }
}
