//! The storefront page (`GET /`) and its form routes: products from the catalogue, the cart,
//! price notices, codes and the totals' breakdown, all rendered on the server.

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_cart::{AddItem, Cart, CartError, CartView, Notice, Promotions};
use serde::Deserialize;

use super::Shop;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    error: Option<String>,
    notice: Option<String>,
}

const STYLE: &str = "
:root{--ink:#1d2330;--muted:#667085;--line:#e4e7ec;--accent:#2e6b4f;--bad:#b42318;--warn:#9a6700}
*{box-sizing:border-box}body{font:16px/1.5 system-ui,sans-serif;color:var(--ink);margin:0;background:#f7f7f4}
header{background:var(--accent);color:#fff;padding:1rem 2rem}header h1{margin:0;font-size:1.4rem}
main{display:grid;grid-template-columns:1fr 1.2fr;gap:2rem;max-width:68rem;margin:1.5rem auto;padding:0 1rem}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:1rem 1.25rem}
h2{font-size:1.1rem;margin:.2rem 0 1rem}ul.products{list-style:none;margin:0;padding:0}
ul.products li{display:flex;justify-content:space-between;align-items:center;padding:.5rem 0;border-bottom:1px solid var(--line)}
table{width:100%;border-collapse:collapse}th,td{padding:.4rem .3rem;border-bottom:1px solid var(--line);text-align:left}
.num{text-align:right;font-variant-numeric:tabular-nums}input[type=number]{width:4.5rem}
button{background:var(--accent);color:#fff;border:0;border-radius:6px;padding:.35rem .8rem;cursor:pointer}
button.link{background:none;color:var(--bad);padding:0}.error{color:var(--bad);font-weight:600}
.notice{color:var(--accent);font-weight:600}ul#notices{color:var(--warn);padding-left:1.2rem}
ul#codes{list-style:none;padding:0;display:flex;gap:.5rem;flex-wrap:wrap}ul#codes li{border:1px solid var(--line);border-radius:6px;padding:.1rem .5rem}
ul#codes form{display:inline}dl{display:grid;grid-template-columns:1fr auto;gap:.2rem 1rem}
dt{color:var(--muted)}dd{margin:0;text-align:right;font-variant-numeric:tabular-nums}dd.total{font-weight:700;font-size:1.15rem}
form.discount{margin:1rem 0}form.qty{display:flex;gap:.3rem;align-items:center}th{white-space:nowrap}ol.breakdown{color:var(--muted);font-size:.9rem;padding-left:1.2rem}
";

/// One notice as a sentence, naming the product as the cart shows it.
fn notice_line(view: &CartView, notice: &Notice) -> Option<String> {
    let Notice::PriceChanged { id, old, new } = notice else {
        return None;
    };
    let name = view
        .items
        .iter()
        .find(|line| &line.id == id)
        .map_or(id.as_str(), |line| line.name.as_str());
    Some(format!(
        "<li class=price-changed data-id=\"{id}\">The price of {name} changed from \
         <span class=old>{old}</span> to <span class=new>{new}</span>.</li>\n",
        id = escape(id),
        name = escape(name),
        old = escape(old),
        new = escape(new),
    ))
}

pub async fn page(
    cart: Cart,
    State(shop): State<Shop>,
    Query(query): Query<PageQuery>,
) -> Result<Html<String>, Response> {
    let view = cart.view().await.map_err(IntoResponse::into_response)?;
    let mut products = String::new();
    for product in shop.products() {
        products.push_str(&format!(
            "<li><span>{name} <small>${price}</small></span>\
             <form method=post action=\"/ui/add\"><input type=hidden name=id value=\"{id}\">\
             <button type=submit id=\"add-{id}\">Add to cart</button></form></li>\n",
            name = escape(&product.name),
            price = product.price,
            id = escape(&product.id),
        ));
    }
    let mut rows = String::new();
    for item in &view.items {
        let id = escape(&item.id);
        rows.push_str(&format!(
            "<tr data-id=\"{id}\"><td class=name>{name}</td><td class=num>{price}</td>\
             <td><form method=post action=\"/ui/update\" class=qty><input type=hidden name=id value=\"{id}\">\
             <input type=number name=quantity min=0 value=\"{qty}\" aria-label=\"Quantity of {name}\">\
             <button type=submit>Update</button></form></td>\
             <td class=\"num line-total\">{total}</td>\
             <td><form method=post action=\"/ui/remove\"><input type=hidden name=id value=\"{id}\">\
             <button type=submit class=link>Remove</button></form></td></tr>\n",
            name = escape(&item.name),
            price = escape(&item.price),
            qty = item.quantity,
            total = escape(&item.line_total),
        ));
    }
    if view.items.is_empty() {
        rows.push_str("<tr><td colspan=5 class=empty>Your cart is empty.</td></tr>\n");
    }
    let notices: String = view
        .notices
        .iter()
        .filter_map(|notice| notice_line(&view, notice))
        .collect();
    let mut codes = String::new();
    for condition in &view.conditions {
        let name = condition.name();
        let is_code = matches!(shop.catalog.condition_for(name).await, Ok(Some(_)));
        if is_code {
            codes.push_str(&format!(
                "<li data-code=\"{code}\">{code} <form method=post action=\"/ui/code/remove\">\
                 <input type=hidden name=code value=\"{code}\">\
                 <button type=submit class=link id=\"remove-code-{code}\">Remove</button></form></li>\n",
                code = escape(name),
            ));
        }
    }
    let mut breakdown = String::new();
    for step in &view.breakdown {
        breakdown.push_str(&format!(
            "<li>{} ({} {}): {} → {}</li>\n",
            escape(&step.condition),
            escape(&step.kind),
            step.value,
            step.base,
            step.result
        ));
    }
    let message = |class: &str, text: Option<String>| {
        text.map(|t| format!("<p class={class} role=status>{}</p>", escape(&t)))
            .unwrap_or_default()
    };
    Ok(Html(format!(
        r#"<!doctype html>
<html lang=en><head><meta charset=utf-8><meta name=viewport content="width=device-width,initial-scale=1">
<title>axum-cart demo shop</title><style>{STYLE}</style></head>
<body><header><h1>axum-cart demo shop</h1></header>
<main>
<section><h2>Products</h2><ul class=products>
{products}</ul></section>
<section><h2>Your cart</h2>{error}{notice}
<ul id=notices>
{notices}</ul>
<table id=cart><thead><tr><th>Item</th><th class=num>Price</th><th>Qty</th><th class=num>Line total</th><th></th></tr></thead>
<tbody>
{rows}</tbody></table>
<form method=post action="/ui/discount" class=discount><label>Discount code <input name=code id=code autocomplete=off></label>
<button type=submit id=apply-code>Apply</button></form>
<ul id=codes>
{codes}</ul>
<dl class=totals>
<dt>Items</dt><dd id=count>{count}</dd>
<dt>Subtotal before discounts</dt><dd id=subtotal-without-conditions>{raw}</dd>
<dt>Subtotal</dt><dd id=subtotal>{subtotal}</dd>
<dt>You save</dt><dd id=savings>{savings}</dd>
<dt>Total ({currency})</dt><dd id=total class=total>{total}</dd>
</dl>
<ol class=breakdown>
{breakdown}</ol></section>
</main></body></html>"#,
        error = message("error", query.error),
        notice = message("notice", query.notice),
        count = view.count,
        raw = escape(&view.subtotal_without_conditions),
        subtotal = escape(&view.subtotal),
        savings = escape(&view.savings),
        total = escape(&view.total),
        currency = escape(&view.currency),
    )))
}

fn back_with(kind: &str, message: &str) -> Redirect {
    Redirect::to(&format!("/?{kind}={}", url_encode(message)))
}

fn back_with_error(error: &CartError) -> Redirect {
    back_with("error", &error.to_string())
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Deserialize)]
pub struct ProductForm {
    id: String,
}

/// Every form post answers 303 See Other (POST-redirect-GET), so reloading or going back to the
/// page never submits a form again. A form names a product by id; the catalogue prices it.
pub async fn add(cart: Cart, Form(form): Form<ProductForm>) -> Redirect {
    let item = AddItem {
        id: form.id,
        quantity: 1,
        attributes: Default::default(),
    };
    match cart.add_product(item).await {
        Ok(_) => Redirect::to("/"),
        Err(error) => back_with_error(&error),
    }
}

#[derive(Deserialize)]
pub struct UpdateForm {
    id: String,
    quantity: String,
}

pub async fn update(cart: Cart, Form(form): Form<UpdateForm>) -> Redirect {
    let Ok(quantity) = form.quantity.trim().parse::<i64>() else {
        return back_with("error", "The quantity must be a whole number.");
    };
    match cart.set_quantity(&form.id, quantity).await {
        Ok(_) => Redirect::to("/"),
        Err(error) => back_with_error(&error),
    }
}

pub async fn remove(cart: Cart, Form(form): Form<ProductForm>) -> Redirect {
    match cart.remove(&form.id).await {
        Ok(_) => Redirect::to("/"),
        Err(error) => back_with_error(&error),
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

pub async fn apply_code(
    cart: Cart,
    State(shop): State<Shop>,
    Form(form): Form<CodeForm>,
) -> Redirect {
    let code = form.code.trim().to_ascii_uppercase();
    match cart.apply_code(&code).await {
        Ok(()) => back_with("notice", &format!("{code} applied.")),
        Err(error) if error.code() == "invalid_code" => {
            // Unknown, or known but its rules do not hold for this cart now.
            let message = match shop.catalog.condition_for(&code).await {
                Ok(Some(_)) => format!("The code {code} does not apply to this cart."),
                _ => format!("Unknown discount code “{}”.", form.code.trim()),
            };
            back_with("error", &message)
        }
        Err(error) => back_with_error(&error),
    }
}

pub async fn remove_code(cart: Cart, Form(form): Form<CodeForm>) -> Redirect {
    match cart.remove_code(&form.code).await {
        Ok(()) => back_with("notice", &format!("{} removed.", form.code)),
        Err(error) => back_with_error(&error),
    }
}
