//! One SQL dialect for both backends: statements written once with `?1`-style parameters and
//! only BIGINT, DOUBLE/REAL and TEXT columns, run by SQLite as they are and by PostgreSQL with
//! `$1`-style parameters. The alert, on-call and outbox tables are read and written through
//! this, so their queries exist once.

use crate::{Result, StoreError};

/// A parameter or a column value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    Int(i64),
    Real(f64),
    Text(String),
    Null,
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::Int(v)
    }
}

impl From<f64> for Val {
    fn from(v: f64) -> Val {
        Val::Real(v)
    }
}

impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::Text(v.to_string())
    }
}

impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::Text(v)
    }
}

impl From<&String> for Val {
    fn from(v: &String) -> Val {
        Val::Text(v.clone())
    }
}

impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Val {
        v.map_or(Val::Null, Into::into)
    }
}

/// A result row, read by column index.
pub(crate) struct Row(pub Vec<Val>);

impl Row {
    pub fn int(&self, i: usize) -> Result<i64> {
        match self.0.get(i) {
            Some(Val::Int(v)) => Ok(*v),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected an integer, found {other:?}"
            ))),
        }
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.0.get(i) {
            Some(Val::Null) => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    pub fn real(&self, i: usize) -> Result<f64> {
        match self.0.get(i) {
            Some(Val::Real(v)) => Ok(*v),
            Some(Val::Int(v)) => Ok(*v as f64),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected a number, found {other:?}"
            ))),
        }
    }

    pub fn text(&self, i: usize) -> Result<String> {
        match self.0.get(i) {
            Some(Val::Text(v)) => Ok(v.clone()),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected text, found {other:?}"
            ))),
        }
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.0.get(i) {
            Some(Val::Null) => Ok(None),
            _ => self.text(i).map(Some),
        }
    }
}

/// A transaction of either backend.
pub(crate) trait Db {
    /// Runs a statement; the number of rows it changed.
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64>;
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>>;
    /// Makes writers of the audit trail take turns until the transaction ends, so that two
    /// never chain to the same entry. (SQLite's write transactions take turns already.)
    fn serialize_audit(&mut self) -> Result<()> {
        Ok(())
    }
}

impl dyn Db + '_ {
    pub fn one(&mut self, sql: &str, params: &[Val]) -> Result<Row> {
        self.opt(sql, params)?
            .ok_or_else(|| StoreError::Corrupt(format!("no row for `{sql}`")))
    }

    pub fn opt(&mut self, sql: &str, params: &[Val]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

// --- SQLite ---

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Val::Int(v) => ValueRef::Integer(*v),
            Val::Real(v) => ValueRef::Real(*v),
            Val::Text(v) => ValueRef::Text(v.as_bytes()),
            Val::Null => ValueRef::Null,
        }))
    }
}

impl Db for rusqlite::Transaction<'_> {
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64> {
        let mut stmt = self.prepare_cached(sql)?;
        Ok(stmt.execute(rusqlite::params_from_iter(params))? as u64)
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>> {
        use rusqlite::types::ValueRef;
        let mut stmt = self.prepare_cached(sql)?;
        let n = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut row = Vec::with_capacity(n);
            for i in 0..n {
                row.push(match r.get_ref(i)? {
                    ValueRef::Integer(v) => Val::Int(v),
                    ValueRef::Real(v) => Val::Real(v),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        Val::Text(String::from_utf8_lossy(t).into_owned())
                    }
                    ValueRef::Null => Val::Null,
                });
            }
            out.push(Row(row));
        }
        Ok(out)
    }
}

// --- PostgreSQL ---

impl postgres::types::ToSql for Val {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> std::result::Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>>
    {
        use postgres::types::{IsNull, Type};
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(v) if *ty == Type::BOOL => (*v != 0).to_sql(ty, out),
            Val::Int(v) if *ty == Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
            Val::Int(v) if *ty == Type::FLOAT8 => (*v as f64).to_sql(ty, out),
            Val::Int(v) => v.to_sql(ty, out),
            Val::Real(v) => v.to_sql(ty, out),
            Val::Text(v) => v.as_str().to_sql(ty, out),
        }
    }

    fn accepts(ty: &postgres::types::Type) -> bool {
        use postgres::types::Type;
        [
            Type::INT8,
            Type::INT4,
            Type::BOOL,
            Type::FLOAT8,
            Type::TEXT,
            Type::VARCHAR,
        ]
        .contains(ty)
    }

    postgres::types::to_sql_checked!();
}

/// `?1` → `$1`: the one difference in how the two write parameters. A `?` inside a string
/// literal is left alone.
pub(crate) fn to_postgres(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

fn pg_params(params: &[Val]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    params
        .iter()
        .map(|p| p as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

impl Db for postgres::Transaction<'_> {
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64> {
        Ok(self.execute(to_postgres(sql).as_str(), &pg_params(params))?)
    }

    fn serialize_audit(&mut self) -> Result<()> {
        // A lock of the transaction's, on a number that stands for the audit trail's end.
        self.execute("SELECT pg_advisory_xact_lock(7741000001)", &[])?;
        Ok(())
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>> {
        use postgres::types::Type;
        let rows =
            postgres::Transaction::query(self, to_postgres(sql).as_str(), &pg_params(params))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut row = Vec::with_capacity(r.len());
            for (i, col) in r.columns().iter().enumerate() {
                let ty = col.type_();
                let v = if *ty == Type::INT8 {
                    r.get::<_, Option<i64>>(i).map(Val::Int)
                } else if *ty == Type::INT4 {
                    r.get::<_, Option<i32>>(i).map(|v| Val::Int(v.into()))
                } else if *ty == Type::FLOAT8 {
                    r.get::<_, Option<f64>>(i).map(Val::Real)
                } else if *ty == Type::BOOL {
                    r.get::<_, Option<bool>>(i).map(|v| Val::Int(v.into()))
                } else {
                    r.get::<_, Option<String>>(i).map(Val::Text)
                };
                row.push(v.unwrap_or(Val::Null));
            }
            out.push(Row(row));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parameters_become_dollar_signs_outside_string_literals() {
        assert_eq!(
            super::to_postgres("SELECT ?1, '?' FROM t WHERE a = ?2"),
            "SELECT $1, '?' FROM t WHERE a = $2"
        );
    }
}
