//! The README's quick start works as written: the shop starts, and its curl lines give the
//! numbers the README promises.

mod common;

use std::process::Command;

use common::process;

/// The curl commands of the README's quick start section, with line continuations joined.
fn readme_curl_commands() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let quick_start = readme
        .split("\n## ")
        .find(|section| section.starts_with("Quick start"))
        .expect("a Quick start section");
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in quick_start.lines() {
        let line = line.trim();
        if current.is_empty() && !line.starts_with("curl ") {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                commands.push(std::mem::take(&mut current));
            }
        }
    }
    commands
}

#[test]
fn the_quick_start_curl_lines_work_as_written() {
    let commands = readme_curl_commands();
    assert_eq!(
        commands.len(),
        3,
        "the README quick start has three curl lines: {commands:?}"
    );
    let shop = process::start_example("shop", &[("CART_STORAGE", "session")]);
    let dir = std::env::temp_dir().join(format!("axum-cart-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut last = String::new();
    for command in &commands {
        let command = command.replace("http://127.0.0.1:3000", &shop.address);
        let output = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .current_dir(&dir)
            .output()
            .expect("run curl (is curl installed?)");
        assert!(output.status.success(), "{command} failed: {output:?}");
        last = String::from_utf8(output.stdout).unwrap();
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        last.contains(r#""subtotal":"35.82","total":"35.82","savings":"3.98""#),
        "the README promises these totals; the shop answered {last}"
    );
    let view: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(view["breakdown"][0]["condition"], "SAVE10");
    assert_eq!(view["breakdown"][0]["base"], "39.80");
    assert_eq!(view["breakdown"][0]["result"], "35.82");
    assert_eq!(view["items"][0]["line_total"], "39.80");
    // The catalogue named and priced the line; the client sent an id and a quantity.
    assert_eq!(view["items"][0]["name"], "Organic T-shirt");
    assert_eq!(view["items"][0]["price"], "19.90");
    for command in &commands {
        assert!(
            !command.contains("price") && !command.contains("\"value\""),
            "a quick start request sends a price or a condition: {command}"
        );
    }
}
