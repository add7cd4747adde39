//! Partition routers: a `ListPartitionRouter`'s values, and a
//! `SubstreamPartitionRouter`'s parent records (the parent stream is read in
//! full first); several routers give every combination of their partitions.

use serde_json::{Map, Value};

use super::fields::{cfg, get_str as s};
use super::reader::Event;
use super::reader::Source;
use super::request::Inject;
use crate::error::Result;

/// A partition: the values templates see as `stream_partition`, and what they inject.
#[derive(Debug, Clone, Default)]
pub(super) struct Partition {
    pub(super) values: Map<String, Value>,
    pub(super) inject: Vec<(Inject, Value)>,
}

impl Source {
    pub(super) fn partitions(
        &self,
        def: Option<&Value>,
        ctx: &minijinja::Value,
        path: &str,
    ) -> Result<Vec<Partition>> {
        let routers: Vec<(String, &Value)> = match def {
            None => return Ok(vec![Partition::default()]),
            Some(Value::Array(list)) => list
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("{path}[{i}]"), r))
                .collect(),
            Some(one) => vec![(path.to_string(), one)],
        };
        let mut out = vec![Partition::default()];
        for (rp, router) in routers {
            let mine = self.router(router, ctx, &rp)?;
            // Several routers: every combination of their partitions.
            let mut next = Vec::with_capacity(out.len() * mine.len());
            for a in &out {
                for b in &mine {
                    let mut p = a.clone();
                    p.values.extend(b.values.clone());
                    p.inject.extend(b.inject.clone());
                    next.push(p);
                }
            }
            out = next;
        }
        Ok(out)
    }
    pub(super) fn router(
        &self,
        def: &Value,
        ctx: &minijinja::Value,
        path: &str,
    ) -> Result<Vec<Partition>> {
        match s(def, "type") {
            Some("ListPartitionRouter") => {
                let values = match def.get("values") {
                    Some(Value::Array(v)) => v.clone(),
                    Some(Value::String(t)) => match self
                        .interp
                        .eval(t, ctx)
                        .map_err(|e| cfg(&format!("{path}.values"), e))?
                    {
                        Value::Array(v) => v,
                        other => {
                            return Err(cfg(
                                &format!("{path}.values"),
                                format!("must give a list, got {other}"),
                            ))
                        }
                    },
                    _ => {
                        return Err(cfg(
                            &format!("{path}.values"),
                            "a list of values is required",
                        ))
                    }
                };
                let field = self
                    .interp
                    .render(
                        s(def, "cursor_field")
                            .ok_or_else(|| cfg(&format!("{path}.cursor_field"), "is required"))?,
                        ctx,
                    )
                    .map_err(|e| cfg(path, e))?;
                let option = Inject::from(
                    def.get("request_option"),
                    &self.interp,
                    ctx,
                    &format!("{path}.request_option"),
                )?;
                Ok(values
                    .into_iter()
                    .map(|v| {
                        let v = match v {
                            Value::String(t) => {
                                Value::String(self.interp.render(&t, ctx).unwrap_or(t))
                            }
                            other => other,
                        };
                        let mut p = Partition::default();
                        p.values.insert(field.clone(), v.clone());
                        if let Some(o) = &option {
                            p.inject.push((o.clone(), v));
                        }
                        p
                    })
                    .collect())
            }
            Some("SubstreamPartitionRouter") => {
                let mut out = vec![];
                for (i, pc) in def
                    .get("parent_stream_configs")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let pp = format!("{path}.parent_stream_configs[{i}]");
                    let parent = pc
                        .get("stream")
                        .ok_or_else(|| cfg(&format!("{pp}.stream"), "is required"))?;
                    let key = self
                        .interp
                        .render(
                            s(pc, "parent_key")
                                .ok_or_else(|| cfg(&format!("{pp}.parent_key"), "is required"))?,
                            ctx,
                        )
                        .map_err(|e| cfg(&pp, e))?;
                    let field = self
                        .interp
                        .render(
                            s(pc, "partition_field").ok_or_else(|| {
                                cfg(&format!("{pp}.partition_field"), "is required")
                            })?,
                            ctx,
                        )
                        .map_err(|e| cfg(&pp, e))?;
                    let option = Inject::from(
                        pc.get("request_option"),
                        &self.interp,
                        ctx,
                        &format!("{pp}.request_option"),
                    )?;
                    let mut found = vec![];
                    self.read_stream(parent, &format!("{pp}.stream"), None, &mut |ev| {
                        if let Event::Record(r) = ev {
                            let v = key.split('/').try_fold(&r, |node, k| node.get(k)).cloned();
                            if let Some(v) = v.filter(|v| !v.is_null()) {
                                found.push(v);
                            }
                        }
                        Ok(true)
                    })?;
                    for v in found {
                        let mut p = Partition::default();
                        p.values.insert(field.clone(), v.clone());
                        p.values
                            .insert("parent_slice".into(), Value::Object(Map::new()));
                        if let Some(o) = &option {
                            p.inject.push((o.clone(), v));
                        }
                        out.push(p);
                    }
                }
                Ok(out)
            }
            other => Err(cfg(path, format!("unknown partition router {other:?}"))),
        }
    }
}
