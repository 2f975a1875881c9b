//! End-to-end tests for coldsign live under `tests/`; this library is empty.
