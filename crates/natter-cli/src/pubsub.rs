//! `natter pub`, `sub`, `req` and `reply`: the everyday messaging commands, with output shaped
//! like the `nats` CLI's.

use std::io::{Read, Write};
use std::time::Instant;

use async_nats::{Client, HeaderMap, Message, RequestErrorKind};
use bytes::Bytes;
use clap::ArgMatches;
use futures::StreamExt;

use crate::common::{
    expand, go_duration, header_lines, headers, log, round_trip, Failure, Global, Outcome,
};

fn strings(m: &ArgMatches, id: &str) -> Vec<String> {
    m.get_many::<String>(id)
        .map(|v| v.cloned().collect())
        .unwrap_or_default()
}

/// Publishes `--count` messages (templated body and headers), one log line each.
pub(crate) async fn publish(g: &Global, m: &ArgMatches) -> Outcome {
    let subject = m.get_one::<String>("subject").cloned().unwrap_or_default();
    let count = *m.get_one::<u64>("count").unwrap_or(&1);
    let reply = m.get_one::<String>("reply").cloned();
    let header_specs = strings(m, "header");
    let quiet = m.get_flag("quiet");
    let body = match m.get_one::<String>("body") {
        Some(b) => b.clone(),
        None => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(|e| {
                Failure::new(format!("cannot read the message body from stdin: {e}"))
            })?;
            s
        }
    };
    // Validate headers before connecting so a typo fails fast.
    headers(&header_specs, 1)?;
    let client = g.connect("NATTER CLI Publisher").await?;
    for i in 1..=count {
        let payload = Bytes::from(expand(&body, i, None));
        let len = payload.len();
        let hdrs = headers(&header_specs, i)?;
        let sent = match (reply.clone(), hdrs) {
            (None, None) => client.publish(subject.clone(), payload).await,
            (None, Some(h)) => {
                client
                    .publish_with_headers(subject.clone(), h, payload)
                    .await
            }
            (Some(r), None) => client.publish_with_reply(subject.clone(), r, payload).await,
            (Some(r), Some(h)) => {
                client
                    .publish_with_reply_and_headers(subject.clone(), r, h, payload)
                    .await
            }
        };
        sent.map_err(|e| Failure::new(format!("could not publish to {subject:?}: {e}")))?;
        if !quiet {
            log(format_args!("Published {len} bytes to {subject:?}"));
        }
    }
    client.flush().await?;
    Ok(())
}

fn print_message(out: &mut impl Write, n: u64, msg: &Message, raw: bool) -> std::io::Result<()> {
    if raw {
        out.write_all(&msg.payload)?;
        out.write_all(b"\n")?;
        return out.flush();
    }
    match &msg.reply {
        Some(r) => writeln!(
            out,
            "[#{n}] Received on {:?} with reply {:?}",
            msg.subject.as_str(),
            r.as_str()
        )?,
        None => writeln!(out, "[#{n}] Received on {:?}", msg.subject.as_str())?,
    }
    if let Some(h) = msg.headers.as_ref().filter(|h| !h.is_empty()) {
        for line in header_lines(h) {
            writeln!(out, "{line}")?;
        }
        writeln!(out)?;
    }
    out.write_all(&msg.payload)?;
    out.write_all(b"\n")?;
    if !msg.payload.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Subscribes and prints every message until `--count` arrive or Ctrl-C.
pub(crate) async fn subscribe(g: &Global, m: &ArgMatches) -> Outcome {
    let subject = m.get_one::<String>("subject").cloned().unwrap_or_default();
    let queue = m.get_one::<String>("queue").cloned();
    let limit = m.get_one::<u64>("count").copied().filter(|n| *n > 0);
    let raw = m.get_flag("raw");
    let client = g.connect("NATTER CLI Subscriber").await?;
    let mut sub = match &queue {
        Some(q) => client.queue_subscribe(subject.clone(), q.clone()).await,
        None => client.subscribe(subject.clone()).await,
    }
    .map_err(|e| Failure::new(format!("could not subscribe to {subject:?}: {e}")))?;
    // Announce only once the server has the subscription, so scripts can wait for the line.
    round_trip(&client, g.timeout).await?;
    let banner = match &queue {
        Some(q) => format!("Subscribing on {subject} in group {q}"),
        None => format!("Subscribing on {subject}"),
    };
    if raw {
        // Keep stdout to message bodies only; scripts can still wait for readiness.
        eprintln!("{} {banner}", crate::common::clock());
    } else {
        log(format_args!("{banner}"));
    }
    let mut n = 0u64;
    let mut out = std::io::stdout().lock();
    loop {
        tokio::select! {
            msg = sub.next() => {
                let Some(msg) = msg else {
                    return Err(Failure::new("the subscription was closed by the connection"));
                };
                n += 1;
                if print_message(&mut out, n, &msg, raw).is_err() {
                    // stdout closed (for example `| head`): nothing left to do.
                    return Ok(());
                }
                if limit.is_some_and(|l| n >= l) {
                    return Ok(());
                }
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// Sends one request and prints the reply with its round-trip time.
pub(crate) async fn request(g: &Global, m: &ArgMatches) -> Outcome {
    let subject = m.get_one::<String>("subject").cloned().unwrap_or_default();
    let body = m.get_one::<String>("body").cloned().unwrap_or_default();
    let raw = m.get_flag("raw");
    let hdrs = headers(&strings(m, "header"), 1)?;
    let client = g.connect("NATTER CLI Requestor").await?;
    let payload = Bytes::from(expand(&body, 1, None));
    if !raw {
        log(format_args!("Sending request on {subject:?}"));
    }
    let started = Instant::now();
    let mut req = async_nats::Request::new()
        .payload(payload)
        .timeout(Some(g.timeout));
    if let Some(h) = hdrs {
        req = req.headers(h);
    }
    let reply = client
        .send_request(subject.clone(), req)
        .await
        .map_err(|e| match e.kind() {
            RequestErrorKind::NoResponders => {
                Failure::new(format!("no responders are available for {subject:?}"))
            }
            RequestErrorKind::TimedOut => Failure::new(format!(
                "no reply on {subject:?} within {}",
                go_duration(g.timeout)
            )),
            _ => Failure::new(format!("request on {subject:?} failed: {e}")),
        })?;
    let rtt = started.elapsed();
    let mut out = std::io::stdout().lock();
    if !raw {
        log(format_args!("Received with rtt {}", go_duration(rtt)));
        if let Some(h) = reply.headers.as_ref().filter(|h| !h.is_empty()) {
            for line in header_lines(h) {
                log(format_args!("{line}"));
            }
            let _ = writeln!(out);
        }
    }
    let _ = out.write_all(&reply.payload);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
    Ok(())
}

async fn answer(
    client: &Client,
    msg: &Message,
    body: Option<&str>,
    header_specs: &[String],
    n: u64,
) -> Outcome {
    let Some(reply_to) = msg.reply.clone() else {
        return Ok(());
    };
    let mut hdrs = headers(header_specs, n)?;
    let payload = match body {
        Some(b) => Bytes::from(expand(b, n, Some(&String::from_utf8_lossy(&msg.payload)))),
        None => {
            // Echo mode: send the request back, headers included.
            if let Some(h) = &msg.headers {
                let merged = hdrs.get_or_insert_with(HeaderMap::new);
                for (k, vs) in h.iter() {
                    for v in vs {
                        merged.append(k.clone(), v.clone());
                    }
                }
            }
            msg.payload.clone()
        }
    };
    match hdrs {
        Some(h) => client.publish_with_headers(reply_to, h, payload).await?,
        None => client.publish(reply_to, payload).await?,
    }
    Ok(())
}

/// Answers requests with a fixed (templated) body, or echoes them, until `--count` or Ctrl-C.
pub(crate) async fn reply(g: &Global, m: &ArgMatches) -> Outcome {
    let subject = m.get_one::<String>("subject").cloned().unwrap_or_default();
    let body = m.get_one::<String>("body").cloned();
    let queue = m
        .get_one::<String>("queue")
        .cloned()
        .unwrap_or_else(|| "NATS-RPLY-22".into());
    let limit = m.get_one::<u64>("count").copied().filter(|n| *n > 0);
    let header_specs = strings(m, "header");
    headers(&header_specs, 1)?;
    let client = g.connect("NATTER CLI Replier").await?;
    let mut sub = client
        .queue_subscribe(subject.clone(), queue.clone())
        .await
        .map_err(|e| Failure::new(format!("could not subscribe to {subject:?}: {e}")))?;
    round_trip(&client, g.timeout).await?;
    if body.is_none() {
        log(format_args!("No body supplied, enabling echo mode"));
    }
    log(format_args!("Listening on {subject:?} in group {queue:?}"));
    let mut n = 0u64;
    loop {
        tokio::select! {
            msg = sub.next() => {
                let Some(msg) = msg else {
                    return Err(Failure::new("the subscription was closed by the connection"));
                };
                n += 1;
                log(format_args!("[#{n}] Received on subject {:?}:", msg.subject.as_str()));
                if let Some(h) = msg.headers.as_ref() {
                    for line in header_lines(h) {
                        log(format_args!("{line}"));
                    }
                }
                {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out);
                    let _ = out.write_all(&msg.payload);
                    let _ = out.write_all(b"\n");
                    let _ = out.flush();
                }
                answer(&client, &msg, body.as_deref(), &header_specs, n).await?;
                if limit.is_some_and(|l| n >= l) {
                    client.flush().await?;
                    return Ok(());
                }
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
