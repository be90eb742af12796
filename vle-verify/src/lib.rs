//! vle-verify
