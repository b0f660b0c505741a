#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vcproxy::fuzz_targets::request_path(data));
