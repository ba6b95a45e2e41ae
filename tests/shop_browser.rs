//! The storefront in a real browser: Debian's headless Chromium driven through WebDriver
//! (chromedriver). `./scripts/test` installs both; without them these tests fail, never skip.

mod common;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::pg;
use common::process::{free_port, start_example};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

struct ChromeDriver {
    child: Child,
    url: String,
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_chromedriver() -> ChromeDriver {
    // A port found free may be taken again before chromedriver binds it (the other browser test
    // starts its own driver meanwhile): a driver that exited instead of listening is started
    // again on another port, so that the readiness poll never counts another driver's socket.
    for _ in 0..5 {
        let port = free_port();
        let mut child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is not installed: apt-get install chromium chromium-driver (./scripts/test does)");
        let deadline = Instant::now() + Duration::from_secs(20);
        // Readiness poll: chromedriver accepts connections once it can take sessions.
        loop {
            if child.try_wait().expect("chromedriver's status").is_some() {
                break;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return ChromeDriver {
                    child,
                    url: format!("http://127.0.0.1:{port}"),
                };
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not start within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("chromedriver exited on start five times");
}

/// A browser with its own fresh profile (its own cookies).
async fn browser(driver: &ChromeDriver) -> Client {
    let profile = std::env::temp_dir().join(format!(
        "axum-cart-chromium-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,900", format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("start a Chromium session")
}

async fn text(browser: &Client, css: &str) -> String {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Submits the form holding `button` and waits until the page it leads to has loaded: the old
/// document carries a marker, so the wait ends only on a new document.
async fn press(browser: &Client, button: &str) {
    browser
        .execute("window.__before_submit = true;", vec![])
        .await
        .unwrap();
    browser
        .find(Locator::Css(button))
        .await
        .unwrap_or_else(|e| panic!("{button}: {e}"))
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let loaded = browser
            .execute(
                "return window.__before_submit === undefined && document.readyState === 'complete' \
                 && document.querySelector('#total') !== null;",
                vec![],
            )
            .await;
        if matches!(loaded, Ok(Value::Bool(true))) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "pressing {button} did not lead to a new page within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn quantity_of(browser: &Client, id: &str) -> Option<String> {
    let selector = format!("tr[data-id=\"{id}\"] input[name=quantity]");
    match browser.find(Locator::Css(&selector)).await {
        Ok(input) => input.prop("value").await.unwrap(),
        Err(_) => None,
    }
}

/// The admin token the shop processes of these tests are started with.
const ADMIN_TOKEN: &str = "browser-test-admin";

/// An admin request sent by the browser (with its cookies and the admin token); its status.
async fn admin(browser: &Client, method: &str, path: &str, body: Value) -> Value {
    browser
        .execute(
            "const r = await fetch(arguments[1], {method: arguments[0], headers: \
             {'content-type': 'application/json', 'authorization': 'Bearer ' + arguments[3]}, \
             body: JSON.stringify(arguments[2])}); return r.status;",
            vec![json!(method), json!(path), body, json!(ADMIN_TOKEN)],
        )
        .await
        .unwrap()
}

/// The cart as the JSON API sees it, fetched by the browser with its own cookies.
async fn api_view(browser: &Client) -> Value {
    browser
        .execute("return await (await fetch('/cart')).json();", vec![])
        .await
        .unwrap()
}

async fn storefront_scenario(base: &str, driver: &ChromeDriver, screenshot_name: &str) {
    let shopper = browser(driver).await;
    shopper.goto(&format!("{base}/")).await.unwrap();
    assert!(text(&shopper, "#cart").await.contains("Your cart is empty"));

    // Add two products, change a quantity, apply SAVE10.
    press(&shopper, "#add-tee").await;
    press(&shopper, "#add-mug").await;
    let quantity = shopper
        .find(Locator::Css("tr[data-id=\"tee\"] input[name=quantity]"))
        .await
        .unwrap();
    quantity.clear().await.unwrap();
    quantity.send_keys("3").await.unwrap();
    press(&shopper, "tr[data-id=\"tee\"] form.qty button").await;
    shopper
        .find(Locator::Css("#code"))
        .await
        .unwrap()
        .send_keys("SAVE10")
        .await
        .unwrap();
    press(&shopper, "#apply-code").await;
    assert!(text(&shopper, ".notice").await.contains("SAVE10 applied"));

    // Reload: the cart and totals persist and match the JSON API's numbers.
    shopper.refresh().await.unwrap();
    assert_eq!(quantity_of(&shopper, "tee").await.as_deref(), Some("3"));
    assert_eq!(quantity_of(&shopper, "mug").await.as_deref(), Some("1"));
    // 19.90 × 3 + 8.50 = 68.20, less 10 % = 61.38.
    assert_eq!(
        text(&shopper, "#subtotal-without-conditions").await,
        "68.20"
    );
    assert_eq!(text(&shopper, "#total").await, "61.38");
    assert!(text(&shopper, "ol.breakdown").await.contains("SAVE10"));
    let api = api_view(&shopper).await;
    assert_eq!(api["total"], text(&shopper, "#total").await);
    assert_eq!(api["subtotal"], text(&shopper, "#subtotal").await);
    assert_eq!(api["savings"], text(&shopper, "#savings").await);
    assert_eq!(api["count"], 4);

    // POST-redirect-GET: the add answers with a redirect to `/`, so the page shown after it is a
    // GET, and reloading it right away does not post the form again. Without the redirect the
    // page would stay at `/ui/add` and the reload would add a second pair of socks.
    let home = format!("{base}/");
    press(&shopper, "#add-socks").await;
    assert_eq!(shopper.current_url().await.unwrap().as_str(), home);
    assert_eq!(quantity_of(&shopper, "socks").await.as_deref(), Some("1"));
    assert_eq!(api_view(&shopper).await["count"], 5);
    shopper.refresh().await.unwrap();
    assert_eq!(shopper.current_url().await.unwrap().as_str(), home);
    assert_eq!(quantity_of(&shopper, "socks").await.as_deref(), Some("1"));
    assert_eq!(api_view(&shopper).await["count"], 5);

    // A second, separate browser profile sees an empty cart.
    let stranger = browser(driver).await;
    stranger.goto(&format!("{base}/")).await.unwrap();
    assert!(
        text(&stranger, "#cart")
            .await
            .contains("Your cart is empty")
    );
    assert_eq!(text(&stranger, "#total").await, "0.00");
    stranger.close().await.unwrap();

    // Remove an item.
    press(&shopper, "tr[data-id=\"mug\"] button.link").await;
    assert_eq!(quantity_of(&shopper, "mug").await, None);
    let total_before = text(&shopper, "#total").await;

    // An unknown code shows an error and changes nothing.
    shopper
        .find(Locator::Css("#code"))
        .await
        .unwrap()
        .send_keys("BOGUS")
        .await
        .unwrap();
    press(&shopper, "#apply-code").await;
    assert!(
        text(&shopper, ".error")
            .await
            .contains("Unknown discount code")
    );
    assert_eq!(text(&shopper, "#total").await, total_before);
    let conditions = api_view(&shopper).await["conditions"].clone();
    assert_eq!(conditions.as_array().unwrap().len(), 1, "{conditions}");

    // The admin raises the tee's price: the page tells the shopper and the totals follow.
    // 3 × 21.00 + 6.25 = 69.25, less 10 % = 62.325, rounded half up to 62.33.
    let changed = admin(
        &shopper,
        "PUT",
        "/admin/catalog/tee",
        json!({"price": "21.00"}),
    )
    .await;
    assert_eq!(changed, 200);
    shopper.goto(&format!("{base}/")).await.unwrap();
    let notice = text(&shopper, "#notices li.price-changed[data-id=\"tee\"]").await;
    assert!(
        notice.contains("Organic T-shirt") && notice.contains("19.90") && notice.contains("21.00"),
        "{notice}"
    );
    assert_eq!(
        text(&shopper, "tr[data-id=\"tee\"] td.line-total").await,
        "63.00"
    );
    assert_eq!(text(&shopper, "#total").await, "62.33");

    // TENOFF stacks with SAVE10 while the subtotal is at least 50.00.
    shopper
        .find(Locator::Css("#code"))
        .await
        .unwrap()
        .send_keys("tenoff")
        .await
        .unwrap();
    press(&shopper, "#apply-code").await;
    assert!(text(&shopper, ".notice").await.contains("TENOFF applied"));
    assert_eq!(text(&shopper, "#total").await, "52.33");
    let codes = text(&shopper, "#codes").await;
    assert!(
        codes.contains("SAVE10") && codes.contains("TENOFF"),
        "{codes}"
    );
    // Removing a code from the page.
    press(&shopper, "#remove-code-TENOFF").await;
    assert_eq!(text(&shopper, "#total").await, "62.33");
    assert!(!text(&shopper, "#codes").await.contains("TENOFF"));

    // A client price is refused by the JSON API, and changes nothing.
    let refused = shopper
        .execute(
            "const r = await fetch('/cart/items', {method: 'POST', headers: {'content-type': 'application/json'}, \
             body: JSON.stringify({id: 'lamp', price: '0.01', quantity: 1})}); return r.status;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(refused, 422);
    assert_eq!(api_view(&shopper).await["total"], "62.33");

    // Escaping: a product named like markup (the admin's) shows as text.
    let markup = "<img src=x onerror=alert(1)>";
    let created = admin(
        &shopper,
        "PUT",
        "/admin/catalog/xss",
        json!({"price": "1.00", "name": markup}),
    )
    .await;
    assert_eq!(created, 200);
    let added = shopper
        .execute(
            "const r = await fetch('/cart/items', {method: 'POST', headers: {'content-type': 'application/json'}, \
             body: JSON.stringify({id: 'xss', quantity: 1})}); return r.status;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(added, 200);
    shopper.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(text(&shopper, "tr[data-id=\"xss\"] td.name").await, markup);
    assert!(
        shopper
            .find_all(Locator::Css("#cart img"))
            .await
            .unwrap()
            .is_empty(),
        "the item name became an element"
    );

    let png = shopper.screenshot().await.unwrap();
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "target", screenshot_name]
        .iter()
        .collect();
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot of the filled cart: {}", path.display());
    shopper.close().await.unwrap();
}

#[tokio::test]
async fn storefront_in_a_real_browser_with_the_session_driver() {
    let driver = start_chromedriver();
    let shop = start_example(
        "shop",
        &[
            ("CART_STORAGE", "session"),
            ("SHOP_ADMIN_TOKEN", ADMIN_TOKEN),
        ],
    );
    storefront_scenario(&shop.address, &driver, "storefront-session.png").await;
}

#[tokio::test]
async fn storefront_in_a_real_browser_with_the_database_driver() {
    let driver = start_chromedriver();
    let url = pg::test_database_url().await;
    let shop = start_example(
        "shop",
        &[
            ("CART_STORAGE", "database"),
            ("DATABASE_URL", &url),
            ("SHOP_ADMIN_TOKEN", ADMIN_TOKEN),
        ],
    );
    storefront_scenario(&shop.address, &driver, "storefront-database.png").await;
}
