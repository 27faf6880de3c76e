//! The client names statuses exactly as the protocol's one table does: every code sessiondb
//! sends and every reserved code, and no code beyond them.

use sessiondb_client::Status;
use sessiondb_proto::status::{Status as Table, RESERVED};

#[test]
fn every_code_sessiondb_sends_has_the_tables_name() {
    for &st in Table::ALL {
        let client = Status(u64::from(st.code()));
        assert_eq!(client.name(), st.name(), "code {}", st.code());
    }
}

#[test]
fn every_reserved_code_has_the_tables_name() {
    for &(code, name) in RESERVED {
        assert_eq!(Status(u64::from(code)).name(), name, "code {code}");
    }
}

#[test]
fn the_client_names_no_code_outside_the_table() {
    for code in 0..=u16::MAX {
        let named = Status(u64::from(code)).name() != "Unrecognised";
        let known = Table::from_code(code).is_some() || RESERVED.iter().any(|&(c, _)| c == code);
        assert_eq!(named, known, "code {code}");
    }
}

#[test]
fn the_clients_constants_are_the_tables_codes() {
    for (client, st) in [
        (Status::OK, Table::Ok),
        (Status::SESSION_NOT_EXIST, Table::SessionNotExist),
        (Status::SESSION_OPEN_FAIL, Table::SessionOpenFail),
        (Status::SESSION_NEW_FAIL, Table::SessionNewFail),
        (Status::SAVE_COMPLETE, Table::SaveComplete),
        (Status::LOAD_COMPLETE, Table::LoadComplete),
        (Status::VERSION_MISMATCH, Table::VersionMismatch),
    ] {
        assert_eq!(client.code(), u64::from(st.code()), "{}", st.name());
    }
}
