//! The suite's output: one section per measured area, a table of figures beside their bounds and targets, and number formatting.

/// Whether a figure meets its target; `Info` for figures without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Met,
    NotMet,
    Info,
}

impl Verdict {
    /// `Met` when `condition` holds, `NotMet` when not, `Info` when it cannot be judged (NaN).
    pub fn of(condition: Option<bool>) -> Verdict {
        match condition {
            Some(true) => Verdict::Met,
            Some(false) => Verdict::NotMet,
            None => Verdict::Info,
        }
    }

    /// `value ≤ limit` (unjudged when either is NaN).
    pub fn at_most(value: f64, limit: f64) -> Verdict {
        Verdict::of((value.is_finite() && limit.is_finite()).then_some(value <= limit))
    }

    /// `value ≥ floor` (unjudged when either is NaN).
    pub fn at_least(value: f64, floor: f64) -> Verdict {
        Verdict::of((value.is_finite() && floor.is_finite()).then_some(value >= floor))
    }

    fn text(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::NotMet => "NOT met",
            Verdict::Info => "",
        }
    }

    pub fn json(self) -> serde_json::Value {
        match self {
            Verdict::Met => serde_json::Value::Bool(true),
            Verdict::NotMet => serde_json::Value::Bool(false),
            Verdict::Info => serde_json::Value::Null,
        }
    }
}

/// One figure beside its bound, the ratio between them, its target and the verdict.
#[derive(Debug, Clone)]
pub struct Row {
    pub figure: String,
    pub value: String,
    pub bound: String,
    pub ratio: String,
    pub target: String,
    pub verdict: Verdict,
}

impl Row {
    /// A figure without bound or target.
    pub fn info(figure: impl Into<String>, value: impl Into<String>) -> Row {
        Row {
            figure: figure.into(),
            value: value.into(),
            bound: String::new(),
            ratio: String::new(),
            target: String::new(),
            verdict: Verdict::Info,
        }
    }

    pub fn bound(mut self, bound: impl Into<String>) -> Row {
        self.bound = bound.into();
        self
    }

    pub fn ratio(mut self, ratio: impl Into<String>) -> Row {
        self.ratio = ratio.into();
        self
    }

    pub fn target(mut self, target: impl Into<String>, verdict: Verdict) -> Row {
        self.target = target.into();
        self.verdict = verdict;
        self
    }
}

/// A table of free columns (the load runs, the storage bound's batches).
#[derive(Debug, Clone, Default)]
pub struct Grid {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Grid {
    pub fn new(headers: &[&str]) -> Grid {
        Grid {
            headers: headers.iter().map(|header| (*header).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    fn print(&self) {
        let mut widths: Vec<usize> = self.headers.iter().map(|header| header.chars().count()).collect();
        for row in &self.rows {
            for (index, cell) in row.iter().enumerate() {
                if let Some(width) = widths.get_mut(index) {
                    *width = (*width).max(cell.chars().count());
                }
            }
        }
        let line = |cells: &[String]| {
            let mut text = String::from("  ");
            for (index, cell) in cells.iter().enumerate() {
                let width = widths.get(index).copied().unwrap_or(0);
                // The first column is a name (left-aligned); the rest are numbers.
                if index == 0 {
                    text.push_str(&format!("{cell:<width$}"));
                } else {
                    text.push_str(&format!("  {cell:>width$}"));
                }
            }
            println!("{}", text.trim_end());
        };
        line(&self.headers);
        for row in &self.rows {
            line(row);
        }
    }
}

/// One section of the suite's output.
#[derive(Debug, Clone, Default)]
pub struct Section {
    pub title: String,
    /// Lines printed under the title (what was measured, how).
    pub notes: Vec<String>,
    pub grid: Option<Grid>,
    pub rows: Vec<Row>,
}

impl Section {
    pub fn new(title: impl Into<String>) -> Section {
        Section {
            title: title.into(),
            ..Section::default()
        }
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub fn row(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub fn print(&self) {
        println!();
        println!("{}", self.title);
        for note in &self.notes {
            println!("  {note}");
        }
        if let Some(grid) = &self.grid {
            grid.print();
            if !self.rows.is_empty() {
                println!();
            }
        }
        if self.rows.is_empty() {
            return;
        }
        let headers = ["figure", "value", "bound", "ratio", "target", "verdict"];
        let cells = |row: &Row| {
            [
                row.figure.clone(),
                row.value.clone(),
                row.bound.clone(),
                row.ratio.clone(),
                row.target.clone(),
                row.verdict.text().to_owned(),
            ]
        };
        let mut widths = headers.map(str::len);
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(cells(row)) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let [figure, value, bound, ratio, target, verdict] = widths;
        let line = |cells: [String; 6]| {
            let [a, b, c, d, e, f] = cells;
            let text = format!("  {a:<figure$}  {b:>value$}  {c:<bound$}  {d:>ratio$}  {e:<target$}  {f:<verdict$}");
            println!("{}", text.trim_end());
        };
        line(headers.map(str::to_owned));
        for row in &self.rows {
            line(cells(row));
        }
    }

    /// The section's targets, for the JSON's list of verdicts.
    pub fn verdicts_json(&self, key: &str) -> Vec<serde_json::Value> {
        self.rows
            .iter()
            .filter(|row| row.verdict != Verdict::Info)
            .map(|row| {
                serde_json::json!({
                    "section": key,
                    "figure": row.figure,
                    "value": row.value,
                    "bound": row.bound,
                    "target": row.target,
                    "met": row.verdict.json(),
                })
            })
            .collect()
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

/// A rate, rounded, with thousands separators and `unit`.
pub fn rate(value: f64, unit: &str) -> String {
    if value.is_finite() {
        format!("{} {unit}", thousands(value.max(0.0).round() as u64))
    } else {
        "n/a".to_owned()
    }
}

/// Milliseconds with three decimals below 10 ms, two above.
pub fn ms(value: f64) -> String {
    if !value.is_finite() {
        "n/a".to_owned()
    } else if value < 10.0 {
        format!("{value:.3} ms")
    } else {
        format!("{value:.2} ms")
    }
}

pub fn seconds(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.2} s")
    } else {
        "n/a".to_owned()
    }
}

/// Bytes as GiB, MiB or KiB.
pub fn bytes(value: u64) -> String {
    if value >= 1024 * 1024 * 1024 {
        format!("{:.2} GiB", value as f64 / (1024.0 * 1024.0 * 1024.0))
    } else if value >= 1024 * 1024 {
        format!("{:.1} MiB", value as f64 / (1024.0 * 1024.0))
    } else {
        format!("{:.1} KiB", value as f64 / 1024.0)
    }
}

pub fn percent(ratio: f64) -> String {
    if ratio.is_finite() {
        format!("{:.1}%", 100.0 * ratio)
    } else {
        "n/a".to_owned()
    }
}

pub fn times(ratio: f64) -> String {
    if ratio.is_finite() {
        format!("{ratio:.2}x")
    } else {
        "n/a".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(10_000_000), "10,000,000");
        assert_eq!(rate(1234.6, "ops/s"), "1,235 ops/s");
        assert_eq!(percent(0.5), "50.0%");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024 / 2), "1.50 GiB");
        assert_eq!(bytes(1024 * 1024), "1.0 MiB");
        assert_eq!(Verdict::at_most(f64::NAN, 1.0), Verdict::Info);
        assert_eq!(Verdict::at_least(2.0, 1.0), Verdict::Met);
        assert_eq!(Verdict::at_most(2.0, 1.0), Verdict::NotMet);
    }
}
