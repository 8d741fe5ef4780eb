//! Compresses every file in `static/` with gzip and brotli at their highest levels, into
//! `OUT_DIR/static/<name>.gz` and `.br`. `src/assets.rs` compiles them in beside the originals,
//! so serving a compressed stylesheet costs no CPU per request.

use std::error::Error;
use std::fs;
use std::io::Write as _;
use std::path::Path;

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo::rerun-if-changed=static");
    let out_dir = std::env::var("OUT_DIR")?;
    let compressed_dir = Path::new(&out_dir).join("static");
    fs::create_dir_all(&compressed_dir)?;
    for entry in fs::read_dir("static")? {
        let path = entry?.path();
        if !path.is_file() {
            continue;
        }
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        let bytes = fs::read(&path)?;
        fs::write(compressed_dir.join(format!("{name}.gz")), gzip(&bytes)?)?;
        fs::write(compressed_dir.join(format!("{name}.br")), brotli(&bytes)?)?;
    }
    Ok(())
}

/// gzip at level 9. The header's modification time stays 0: the output depends on the input
/// alone, so builds are reproducible.
fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// Brotli at its defaults for static content: quality 11, a 4 MiB window.
fn brotli(mut bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let params = brotli::enc::BrotliEncoderParams::default();
    let mut compressed = Vec::new();
    brotli::BrotliCompress(&mut bytes, &mut compressed, &params)?;
    Ok(compressed)
}
