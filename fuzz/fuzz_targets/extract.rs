//! Fuzz the H5 page decoder and field extractor: any bytes must decode to a page or a
//! per-page error, and extraction must finish within its caps without panicking.
#![no_main]

#[allow(dead_code)]
#[path = "../../src/domain.rs"]
mod domain;
#[allow(dead_code)]
#[path = "../../src/ingest/html.rs"]
mod html;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(page) = html::decode(data) {
        let x = html::extract(&page.html, html::ExtractOptions { include_hidden: data.len() % 2 == 0 });
        assert!(x.fields.len() <= html::MAX_FIELDS);
        assert!(x.total_fields >= x.fields.len());
        for f in &x.fields {
            assert!(f.form_index < x.forms.len());
        }
    }
});
