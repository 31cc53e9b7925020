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
