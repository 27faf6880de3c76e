//! Dataset name validation (`docs/PROTOCOL.md` §13.2).

/// Longest allowed dataset name, in bytes (all allowed characters are ASCII).
pub const MAX_NAME_LEN: usize = 128;

/// True if `name` is an allowed dataset name: `^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$` without `..`.
///
/// The rule keeps every name a single, non-hidden path component, so a name can never escape the
/// persistence root or collide with the server's own `.sessiondb-tmp` and `.journal` directories.
pub fn is_valid_dataset_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let Some(&first) = bytes.first() else {
        return false;
    };
    bytes.len() <= MAX_NAME_LEN
        && first.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        && !name.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_examples() {
        for ok in ["users", "shop-1", "2024.12.22_backup", "a", "A_b.c-d", "0"] {
            assert!(is_valid_dataset_name(ok), "{ok} should be allowed");
        }
        for bad in [
            "../etc", ".hidden", "a..b", "a/b", "", "a\\b", "a b", "café", "-a", "_a",
        ] {
            assert!(!is_valid_dataset_name(bad), "{bad:?} should be refused");
        }
    }

    #[test]
    fn length_limit() {
        assert!(is_valid_dataset_name(&"a".repeat(128)));
        assert!(!is_valid_dataset_name(&"a".repeat(129)));
    }

    #[test]
    fn reserved_directories_are_not_names() {
        assert!(!is_valid_dataset_name(".sessiondb-tmp"));
        assert!(!is_valid_dataset_name(".journal"));
    }
}
