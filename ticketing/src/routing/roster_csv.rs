//! The roster as CSV: the one format `hotline roster import|export` and
//! the web console read and write. One row per lawyer and coming shift (a
//! lawyer without one: a row with empty shift columns, so an export imports
//! back to the same roster); lists within a cell are separated by `;`;
//! shift times are RFC 3339 or a local China Standard Time. Rows are the
//! API's messages, checked by whoever stores them, as any other request.

use hotline_proto::v1 as pb;

use crate::reports::csv_cell;

/// The header, and the columns in order.
pub const HEADER: [&str; 11] = [
    "id",
    "name",
    "phone",
    "sip_uri",
    "skills",
    "regions",
    "languages",
    "capacity",
    "center",
    "shift_from",
    "shift_to",
];

/// A row that cannot be read, with its line (the header is line 1).
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct RowError {
    pub line: usize,
    pub message: String,
}

/// One row: the lawyer, and the shift when the row gives one.
#[derive(Debug, Clone)]
pub struct Row {
    pub line: usize,
    pub lawyer: pb::Lawyer,
    /// (from, to) as written.
    pub shift: Option<(String, String)>,
}

/// Every row of `input`, or the first that cannot be read.
pub fn read(input: impl std::io::Read) -> Result<Vec<Row>, RowError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(input);
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let at = |message: String| RowError { line, message };
        let record = record.map_err(|e| at(e.to_string()))?;
        let field = |n: usize| record.get(n).unwrap_or_default().to_owned();
        let items = |n: usize| -> Vec<String> {
            field(n)
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let capacity = match field(7).as_str() {
            "" => 5,
            text => text
                .parse()
                .map_err(|_| at(format!("capacity `{text}` is not a number")))?,
        };
        let (from, to) = (field(9), field(10));
        rows.push(Row {
            line,
            lawyer: pb::Lawyer {
                id: field(0),
                name: field(1),
                phone: field(2),
                sip_uri: Some(field(3)).filter(|s| !s.is_empty()),
                skills: items(4),
                regions: items(5),
                languages: items(6),
                capacity,
                center: field(8),
                active: true,
            },
            shift: (!from.is_empty() || !to.is_empty()).then_some((from, to)),
        });
    }
    Ok(rows)
}

/// Writes `lawyers` with their `shifts` to `out`. Names that would start a
/// spreadsheet formula are quoted with `'`.
pub fn write(
    out: impl std::io::Write,
    lawyers: &[pb::Lawyer],
    shifts: &[pb::Shift],
) -> Result<(), csv::Error> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(HEADER)?;
    for l in lawyers {
        let theirs: Vec<&pb::Shift> = shifts.iter().filter(|s| s.lawyer == l.id).collect();
        let times: Vec<(&str, &str)> = if theirs.is_empty() {
            vec![("", "")]
        } else {
            theirs
                .iter()
                .map(|s| (s.from.as_str(), s.to.as_str()))
                .collect()
        };
        for (from, to) in times {
            writer.write_record([
                l.id.as_str(),
                &csv_cell(&l.name),
                l.phone.as_str(),
                l.sip_uri.as_deref().unwrap_or_default(),
                &l.skills.join(";"),
                &l.regions.join(";"),
                &l.languages.join(";"),
                &l.capacity.to_string(),
                l.center.as_str(),
                from,
                to,
            ])?;
        }
    }
    writer.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_reads_back_to_the_same_rows() {
        let lawyer = pb::Lawyer {
            id: "li".into(),
            name: "李律师, 劳动".into(),
            phone: "13900000000".into(),
            sip_uri: None,
            skills: vec!["labor-wages".into(), "family".into()],
            regions: vec![],
            languages: vec!["zh".into()],
            capacity: 3,
            center: "default".into(),
            active: true,
        };
        let shifts = [pb::Shift {
            id: 1,
            lawyer: "li".into(),
            from: "2026-12-01T08:00:00+08:00".into(),
            to: "2026-12-01T20:00:00+08:00".into(),
        }];
        let mut out = Vec::new();
        write(&mut out, std::slice::from_ref(&lawyer), &shifts).unwrap();
        let rows = read(out.as_slice()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].lawyer, lawyer);
        assert_eq!(
            rows[0].shift,
            Some((shifts[0].from.clone(), shifts[0].to.clone()))
        );
    }

    #[test]
    fn a_bad_row_names_its_line() {
        let text = "id,name,phone,sip_uri,skills,regions,languages,capacity\nli,Li,139,,,,,x\n";
        let e = read(text.as_bytes()).unwrap_err();
        assert_eq!(e.to_string(), "line 2: capacity `x` is not a number");
    }
}
