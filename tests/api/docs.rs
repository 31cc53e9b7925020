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
    // Every code the server can send: `ErrorCode` is the type every API error is built from.
    for code in gatehouse::error::ErrorCode::ALL.iter().map(|c| c.as_str()) {
        assert!(
            readme.contains(&format!("| `{code}` |")),
            "README's error table lacks {code}"
        );
    }
}
