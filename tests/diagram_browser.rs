//! A real browser looks at the diagrams: headless Chromium (Debian's `chromium`, which
//! `.ci/run` installs) draws a few of them as an `<img>` on a magenta page, and the screenshot is
//! checked: the picture covers exactly the SVG's `width` x `height` at the place it was put, and
//! it is not blank (text and lines, several colours). The PNGs are kept under the test target
//! folder (`diagrams-in-chromium/`) for a person to look at.
//!
//! Without Chromium the test fails, unless `ORCHESTRATOR_PROVIDER_SKIP_E2E=1` says to skip it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use orchestrator_provider::diagram;
use orchestrator_provider::workflow::{ParseLimits, parse_file};

/// Where the `<img>` is put on the page, and the page's colour.
const OFFSET: u32 = 20;
const PAGE: [u8; 3] = [255, 0, 255];
/// Chromium gets this long to draw one page (it takes 1-3 s here).
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        })
    });
    if found.is_none() {
        if std::env::var_os("ORCHESTRATOR_PROVIDER_SKIP_E2E").is_some() {
            println!("skipped: chromium is not installed");
        } else {
            panic!(
                "chromium is not installed (apt-get install chromium); set ORCHESTRATOR_PROVIDER_SKIP_E2E=1 to skip"
            );
        }
    }
    found
}

fn fixture_svg(rel: &str) -> diagram::Svg {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let bytes = std::fs::read(&path).unwrap();
    let parsed = parse_file(rel, &bytes, &ParseLimits::default()).unwrap();
    let wf = &parsed.workflows[0];
    diagram::render(&wf.graph, wf.name.as_deref().unwrap_or(&wf.id), &wf.id)
}

fn hostile_svg() -> diagram::Svg {
    let text = serde_json::json!({
        "id": "hostile",
        "states": [
            {"name": "<script>alert(1)</script>", "type": "operation", "transition": "]]> & \"quotes\""},
            {"name": "]]> & \"quotes\"", "type": "switch",
             "dataConditions": [{"condition": "${ .a < 1 && .b > 2 }", "transition": "漢字 🚀 \u{1b}[31m"}],
             "defaultCondition": {"end": true}},
            {"name": "漢字 🚀 \u{1b}[31m", "type": "sleep", "end": true},
        ]
    })
    .to_string();
    let parsed = parse_file("h.sw.json", text.as_bytes(), &ParseLimits::default()).unwrap();
    diagram::render(
        &parsed.workflows[0].graph,
        "<b>Hostile</b> names",
        "hostile",
    )
}

/// Draws `svg` in Chromium; returns the screenshot as RGB rows.
fn screenshot(browser: &Path, svg: &diagram::Svg, name: &str, out: &Path) -> (u32, u32, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("d.svg"), &svg.text).unwrap();
    std::fs::write(
        dir.path().join("page.html"),
        format!(
            "<!doctype html><html><body style=\"margin:0;background:#ff00ff\"><img src=\"d.svg\" style=\"position:absolute;left:{OFFSET}px;top:{OFFSET}px\"></body></html>"
        ),
    )
    .unwrap();
    let png = out.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&png);
    let (w, h) = (svg.width + 2 * OFFSET, svg.height + 2 * OFFSET);
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-quic",
            "--no-first-run",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--window-size={w},{h}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", dir.path().join("page.html").display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name}: chromium did not finish in {BROWSER_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(
        status.success() && png.is_file(),
        "{name}: chromium failed: {stderr}"
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{name}: {:?}", info.color_type);
    let rgb: Vec<u8> = buf[..info.buffer_size()]
        .chunks(channels)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, rgb)
}

fn check(browser: &Path, svg: &diagram::Svg, name: &str, out: &Path) {
    let (w, h, rgb) = screenshot(browser, svg, name, out);
    assert_eq!(
        (w, h),
        (svg.width + 2 * OFFSET, svg.height + 2 * OFFSET),
        "{name}: screenshot size"
    );
    let pixel = |x: u32, y: u32| {
        let i = ((y * w + x) * 3) as usize;
        [rgb[i], rgb[i + 1], rgb[i + 2]]
    };
    // The picture: every pixel that is not the page.
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    let mut colours = std::collections::BTreeSet::new();
    let mut dark = 0usize;
    for y in 0..h {
        for x in 0..w {
            let p = pixel(x, y);
            if p == PAGE {
                continue;
            }
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            colours.insert(p);
            if u32::from(p[0]) + u32::from(p[1]) + u32::from(p[2]) < 300 {
                dark += 1;
            }
        }
    }
    assert_eq!(
        (x0, y0, x1 + 1 - x0, y1 + 1 - y0),
        (OFFSET, OFFSET, svg.width, svg.height),
        "{name}: the drawn picture is not the SVG's width x height"
    );
    assert!(colours.len() >= 8, "{name}: {} colours", colours.len());
    assert!(
        dark >= 200,
        "{name}: only {dark} dark pixels (text and lines)"
    );
    println!(
        "{name}: {}x{} px, {} colours, {dark} dark pixels: {}",
        svg.width,
        svg.height,
        colours.len(),
        out.join(format!("{name}.png")).display()
    );
}

#[test]
fn chromium_draws_the_diagrams_at_their_size_and_not_blank() {
    let Some(browser) = chromium() else { return };
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("diagrams-in-chromium");
    std::fs::create_dir_all(&out).unwrap();
    for (name, svg) in [
        (
            "order-fulfilment",
            fixture_svg("tests/fixtures/diagrams/order-fulfilment.sw.yaml"),
        ),
        (
            "many-states",
            fixture_svg("tests/fixtures/diagrams/many-states.sw.json"),
        ),
        (
            "loops",
            fixture_svg("tests/fixtures/diagrams/loops.sw.yaml"),
        ),
        (
            "onboarding",
            fixture_svg("fixtures/workflows/onboarding/onboarding.sw.json"),
        ),
        ("hostile", hostile_svg()),
    ] {
        check(&browser, &svg, name, &out);
    }
}
