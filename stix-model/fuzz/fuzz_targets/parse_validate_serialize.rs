//! parse → validate → serialize must never panic, and whatever parses must serialize and
//! parse again to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stix_model::Bundle;

fuzz_target!(|data: &[u8]| {
    if let Ok((bundle, _report)) = Bundle::read_lenient(data) {
        let _ = bundle.validate();
        let bytes = bundle.to_vec().expect("a parsed bundle serializes");
        if let Ok(again) = Bundle::from_slice(&bytes) {
            assert_eq!(again, bundle, "serialize then parse is the identity");
        }
    }
    if let Ok(bundle) = Bundle::from_slice(data) {
        let bytes = bundle.to_vec().expect("a parsed bundle serializes");
        let again = Bundle::from_slice(&bytes).expect("our output parses");
        assert_eq!(again, bundle);
    }
});
