//! Frappe's setup wizard, done for the tenant so the first login lands on the desk.
//!
//! What a sign-up asks (language, country, time zone, currency; each else the default the
//! flags give) is checked against Frappe's own lists on the bench before anything is made
//! (`resolve`). A site the tool makes ahead of time (a standby, the template's reference
//! site) completes the wizard with the defaults when it is made, since the wizard costs
//! 6–10 s of Frappe's time; a sign-up then changes only what it asks differently, the way
//! the wizard would have set it (`system_settings`). A site whose setup is not complete
//! (a fresh one, or one with ERPNext, whose wizard needs the company) runs the wizard at
//! sign-up (`wizard_args`), with ERPNext's company arguments derived as ERPNext's own
//! wizard derives them (`erpnext_company`).

use serde_json::{json, Value};

use crate::error::{Code, Error};
use crate::output::{self, Setup, WizardAction};
use crate::outside::bench::{Bench, Language, SetupLists};
use crate::outside::frappe::{ApiError, Frappe, Session};
use crate::outside::mariadb::tenant::SetupState;
use crate::outside::mariadb::Db;
use crate::signup::{InvalidInput, SetupChoices};

/// The built-in defaults, when neither the request nor a flag says otherwise.
pub const DEFAULT_LANGUAGE: &str = "English";
pub const DEFAULT_COUNTRY: &str = "United States";
pub const DEFAULT_TIMEZONE: &str = "America/New_York";
pub const DEFAULT_CURRENCY: &str = "USD";

/// What the wizard is given: every value one of Frappe's lists holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locale {
    pub language: Language,
    pub country: String,
    pub timezone: String,
    pub currency: String,
    date_format: Option<String>,
    time_format: Option<String>,
    number_format: String,
}

fn invalid(field: &'static str, reason: String) -> InvalidInput {
    InvalidInput { field, reason }
}

/// The request's choices, else the defaults, checked against Frappe's lists. The time
/// zone, when not asked, is the default's if the country has it, else the first of the
/// country's zones (what Frappe's wizard preselects); the currency, when not asked, is
/// the asked country's, else the default.
pub fn resolve(
    asked: &SetupChoices,
    defaults: &SetupChoices,
    lists: &SetupLists,
) -> Result<Locale, InvalidInput> {
    let or_default = |a: &Option<String>, d: &Option<String>, builtin: &str| {
        a.clone()
            .or_else(|| d.clone())
            .unwrap_or_else(|| builtin.to_string())
    };
    let language = or_default(&asked.language, &defaults.language, DEFAULT_LANGUAGE);
    let language = find_language(&language, lists).ok_or_else(|| {
        invalid(
            "language",
            format!("{language:?} is not one of Frappe's languages (a code such as \"de\" or a name such as \"Deutsch\")"),
        )
    })?;
    let country = or_default(&asked.country, &defaults.country, DEFAULT_COUNTRY);
    let (country, info) = lists
        .countries
        .iter()
        .find(|(name, _)| name.as_str() == country)
        .or_else(|| {
            lists
                .countries
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(&country))
        })
        .ok_or_else(|| {
            invalid(
                "country",
                format!("{country:?} is not one of Frappe's countries"),
            )
        })?;
    let default_zone = or_default(&defaults.timezone, &None, DEFAULT_TIMEZONE);
    let timezone = match (&asked.timezone, asked.country.is_some()) {
        (Some(tz), _) => tz.clone(),
        (None, false) => default_zone,
        (None, true) if info.timezones.contains(&default_zone) => default_zone,
        (None, true) => {
            let mut zones = info.timezones.clone();
            zones.sort();
            zones.into_iter().next().ok_or_else(|| {
                invalid(
                    "timezone",
                    format!("Frappe lists no time zone for {country}; the sign-up must say which"),
                )
            })?
        }
    };
    if !lists.timezones.contains(&timezone) {
        return Err(invalid(
            "timezone",
            format!("{timezone:?} is not one of Frappe's time zones (e.g. \"Europe/Berlin\")"),
        ));
    }
    let currency = match (&asked.currency, asked.country.is_some()) {
        (Some(c), _) => c.clone(),
        (None, true) if info.currency.is_some() => info.currency.clone().unwrap_or_default(),
        (None, _) => or_default(&defaults.currency, &None, DEFAULT_CURRENCY),
    };
    if !lists.currencies().contains(currency.as_str()) {
        return Err(invalid(
            "currency",
            format!("{currency:?} is not one of Frappe's currencies (e.g. \"EUR\")"),
        ));
    }
    Ok(Locale {
        language,
        country: country.clone(),
        timezone,
        currency,
        date_format: info.date_format.clone(),
        time_format: info.time_format.clone(),
        number_format: float_number_format(info.number_format.as_deref()),
    })
}

/// A code ("de", "en-US") or a name ("Deutsch"), as Frappe's list has it, in any case.
fn find_language(wanted: &str, lists: &SetupLists) -> Option<Language> {
    let by = |f: &dyn Fn(&Language) -> bool| lists.languages.iter().find(|l| f(l)).cloned();
    by(&|l| l.code == wanted || l.name == wanted).or_else(|| {
        by(&|l| {
            l.code.eq_ignore_ascii_case(wanted) || l.name.to_lowercase() == wanted.to_lowercase()
        })
    })
}

/// The number format the wizard stores for a country (setup_wizard.py
/// `update_system_settings`): the country's, else `#,###.##`, with the two currency
/// formats without decimals widened to their float forms.
fn float_number_format(country: Option<&str>) -> String {
    match country.unwrap_or("#,###.##") {
        "#.###" => "#.###,##".into(),
        "#,###" => "#,###.##".into(),
        other => other.into(),
    }
}

impl Locale {
    /// The wizard's `args` (setup_wizard.py `setup_complete`): no `email`, so it makes no
    /// user (the sign-up makes the tenant's own), and ERPNext's company when it is there.
    pub fn wizard_args(&self, company: Option<&Company>) -> Value {
        let mut args = json!({
            "language": self.language.name,
            "country": self.country,
            "timezone": self.timezone,
            "currency": self.currency,
        });
        if let Some(c) = company {
            args["company_name"] = json!(c.name);
            args["company_abbr"] = json!(c.abbr);
            args["chart_of_accounts"] = json!(c.chart_of_accounts);
            args["fy_start_date"] = json!(c.fy_start);
            args["fy_end_date"] = json!(c.fy_end);
        }
        args
    }

    /// What a completed wizard would have written to System Settings for this locale
    /// (`update_system_settings`), for a site whose setup was completed with other values.
    pub fn system_settings(&self) -> Value {
        let mut v = json!({
            "country": self.country,
            "language": self.language.code,
            "time_zone": self.timezone,
            "number_format": self.number_format,
        });
        if let Some(f) = &self.date_format {
            v["date_format"] = json!(f);
        }
        if let Some(f) = &self.time_format {
            v["time_format"] = json!(f);
        }
        v
    }

    /// Whether a completed setup already says what this locale says.
    pub fn matches(&self, state: &SetupState) -> bool {
        state.complete
            && state.country.as_deref() == Some(self.country.as_str())
            && state.time_zone.as_deref() == Some(self.timezone.as_str())
            && state.language.as_deref() == Some(self.language.code.as_str())
    }
}

/// ERPNext's company, as its setup wizard's organisation slide fills it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Company {
    pub name: String,
    pub abbr: String,
    pub chart_of_accounts: String,
    pub fy_start: String,
    pub fy_end: String,
}

/// Countries whose fiscal year does not start on 1 January, as ERPNext v15's wizard lists
/// them (`erpnext.setup.fiscal_years`: start and end, month-day).
const FISCAL_YEARS: &[(&str, &str, &str)] = &[
    ("Afghanistan", "12-21", "12-20"),
    ("Australia", "07-01", "06-30"),
    ("Bangladesh", "07-01", "06-30"),
    ("Canada", "04-01", "03-31"),
    ("Costa Rica", "10-01", "09-30"),
    ("Egypt", "07-01", "06-30"),
    ("Hong Kong", "04-01", "03-31"),
    ("India", "04-01", "03-31"),
    ("Iran", "06-23", "06-22"),
    ("Myanmar", "04-01", "03-31"),
    ("New Zealand", "04-01", "03-31"),
    ("Pakistan", "07-01", "06-30"),
    ("Singapore", "04-01", "03-31"),
    ("South Africa", "03-01", "02-28"),
    ("Thailand", "10-01", "09-30"),
    ("United Kingdom", "04-01", "03-31"),
];

/// The company ERPNext's wizard would propose for `organization` in `country` on `today`
/// (`YYYY-MM-DD`): the abbreviation is the first letter of each space-separated word, at
/// most 10, upper case; the chart of accounts ERPNext's "Standard"; the fiscal year the
/// one that contains today (a country's own, else the calendar year).
pub fn erpnext_company(organization: &str, country: &str, today: &str) -> Company {
    let abbr: String = organization
        .split(' ')
        .filter_map(|word| word.chars().next())
        .take(10)
        .collect::<String>()
        .to_uppercase();
    let year: i32 = today[..4].parse().unwrap_or(1970);
    let (start, end, mut next_year) = match FISCAL_YEARS.iter().find(|(c, ..)| *c == country) {
        Some((_, start, end)) => (*start, *end, year + 1),
        None => ("01-01", "12-31", year),
    };
    let mut this_year = year;
    // String order is date order for YYYY-MM-DD, as the wizard compares them.
    if format!("{year}-{start}").as_str() > today {
        next_year = year;
        this_year -= 1;
    }
    Company {
        name: organization.to_string(),
        abbr,
        chart_of_accounts: "Standard".into(),
        fy_start: format!("{this_year}-{start}"),
        fy_end: format!("{next_year}-{end}"),
    }
}

/// What a site's setup needs besides its locale: ERPNext's company when ERPNext is there.
pub struct SiteSetup<'a> {
    pub frappe: &'a Frappe,
    pub session: &'a Session,
    pub db_name: &'a str,
    /// `None`: the wizard is left to the tenant's admin (`--skip-setup-wizard`).
    pub locale: Option<&'a Locale>,
    pub company: Option<Company>,
}

/// Brings a site's setup to what the sign-up asks, the cheapest way its state allows: the
/// wizard when setup is not complete, else only the System Settings that differ. With no
/// locale, a completed setup is reopened, so the first login opens the wizard.
pub async fn set_up(db: &mut Db, s: SiteSetup<'_>) -> Result<Option<Setup>, Error> {
    let at = |e: Error| e.at("setup-wizard");
    let api = |e: ApiError| Error::new(Code::ApiError, e.to_string()).at("setup-wizard");
    let state = db.setup_state(s.db_name).await.map_err(|e| at(e.into()))?;
    let Some(locale) = s.locale else {
        if state.complete {
            s.frappe
                .update_doc(
                    s.session,
                    "System Settings",
                    "System Settings",
                    json!({"setup_complete": 0}),
                )
                .await
                .map_err(api)?;
        }
        return Ok(None);
    };
    let action = if !state.complete {
        let args = locale.wizard_args(s.company.as_ref());
        s.frappe
            .complete_setup_wizard(s.session, args)
            .await
            .map_err(api)?;
        if let Some(c) = &s.company {
            // ERPNext inserts the company through make_records, which logs a failure and
            // goes on: only the database says whether it is there.
            let there = db
                .company_exists(s.db_name, &c.name)
                .await
                .map_err(|e| at(e.into()))?;
            if there != Some(true) {
                return Err(Error::new(
                    Code::ApiError,
                    format!(
                        "the setup wizard ran but ERPNext made no company {:?}",
                        c.name
                    ),
                )
                .at("setup-wizard"));
            }
        }
        WizardAction::Completed
    } else if locale.matches(&state) {
        WizardAction::Unchanged
    } else {
        let zone = || json!({"time_zone": locale.timezone});
        // One document after another: Frappe saves System Settings and a User under locks
        // the other also takes, and two at once can end in QueryDeadlockError (seen on a
        // real v15 bench). The wizard gives the standard users the site's zone
        // (setup_wizard.py set_timezone).
        let settings = locale.system_settings();
        (s.frappe)
            .update_doc(s.session, "System Settings", "System Settings", settings)
            .await
            .map_err(api)?;
        for user in ["Administrator", "Guest"] {
            (s.frappe)
                .update_doc(s.session, "User", user, zone())
                .await
                .map_err(api)?;
        }
        WizardAction::Updated
    };
    Ok(Some(locale.report(s.company.as_ref(), Some(action))))
}

impl Locale {
    /// As the JSON reports it.
    pub fn report(&self, company: Option<&Company>, wizard: Option<WizardAction>) -> Setup {
        Setup {
            language: self.language.name.clone(),
            country: self.country.clone(),
            timezone: self.timezone.clone(),
            currency: self.currency.clone(),
            company: company.map(|c| output::Company {
                name: c.name.clone(),
                abbr: c.abbr.clone(),
            }),
            wizard,
        }
    }
}

/// The defaults' locale on this bench, for the sites made ahead of time.
pub async fn defaults_locale(
    bench: &Bench,
    defaults: &SetupChoices,
    deadline: tokio::time::Instant,
) -> Result<Locale, Error> {
    let lists = bench.setup_lists(deadline).await.map_err(|e| {
        Error::config(format!(
            "Frappe's setup wizard lists could not be read: {e}"
        ))
    })?;
    resolve(&SetupChoices::default(), defaults, &lists)
        .map_err(|e| Error::config(format!("the setup wizard's default {e}")))
}

/// A site made ahead of time (a standby, the template's reference site) gets the wizard
/// completed with the defaults, so a sign-up pays only for what it asks differently.
/// Not when its setup is complete already (restored from the template), nor with ERPNext,
/// whose wizard makes the tenant's company. Says whether the wizard ran.
pub async fn set_up_ahead(
    db: &mut Db,
    frappe: &Frappe,
    session: &Session,
    db_name: &str,
    locale: &Locale,
    apps: &[String],
) -> Result<bool, Error> {
    if apps.iter().any(|a| a == "erpnext") {
        return Ok(false);
    }
    let state = db.setup_state(db_name).await?;
    if state.complete {
        return Ok(false);
    }
    frappe
        .complete_setup_wizard(session, locale.wizard_args(None))
        .await
        .map_err(|e| Error::new(Code::ApiError, e.to_string()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outside::bench::Country;

    fn lists() -> SetupLists {
        let country = |currency: Option<&str>, zones: &[&str], num: &str| Country {
            currency: currency.map(String::from),
            timezones: zones.iter().map(|z| z.to_string()).collect(),
            date_format: Some("dd.mm.yyyy".into()),
            time_format: Some("HH:mm".into()),
            number_format: Some(num.into()),
        };
        SetupLists {
            countries: [
                (
                    "Germany",
                    country(
                        Some("EUR"),
                        &["Europe/Berlin", "Europe/Busingen"],
                        "#.###,##",
                    ),
                ),
                (
                    "United States",
                    country(
                        Some("USD"),
                        &["America/New_York", "America/Adak"],
                        "#,###.##",
                    ),
                ),
                ("Japan", country(Some("JPY"), &["Asia/Tokyo"], "#,###")),
                ("Bouvet Island", country(None, &[], "#,###.##")),
            ]
            .into_iter()
            .map(|(n, c)| (n.to_string(), c))
            .collect(),
            languages: [
                ("de", "Deutsch"),
                ("en", "English"),
                ("en-US", "English (United States)"),
            ]
            .into_iter()
            .map(|(code, name)| Language {
                code: code.into(),
                name: name.into(),
            })
            .collect(),
            timezones: [
                "Europe/Berlin",
                "Europe/Busingen",
                "America/New_York",
                "America/Adak",
                "Asia/Tokyo",
                "Asia/Seoul",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
        }
    }

    fn wish(
        language: Option<&str>,
        country: Option<&str>,
        tz: Option<&str>,
        cur: Option<&str>,
    ) -> SetupChoices {
        let s = |v: Option<&str>| v.map(String::from);
        SetupChoices {
            language: s(language),
            country: s(country),
            timezone: s(tz),
            currency: s(cur),
        }
    }

    #[test]
    fn nothing_asked_gives_the_defaults() {
        let l = resolve(&SetupChoices::default(), &SetupChoices::default(), &lists()).unwrap();
        assert_eq!(
            (
                l.language.code.as_str(),
                l.country.as_str(),
                l.timezone.as_str(),
                l.currency.as_str()
            ),
            ("en", "United States", "America/New_York", "USD")
        );
    }

    #[test]
    fn a_country_brings_its_zone_and_currency_unless_asked_otherwise() {
        let l = resolve(
            &wish(Some("Deutsch"), Some("germany"), None, None),
            &SetupChoices::default(),
            &lists(),
        )
        .unwrap();
        assert_eq!(
            (
                l.language.code.as_str(),
                l.country.as_str(),
                l.timezone.as_str(),
                l.currency.as_str()
            ),
            ("de", "Germany", "Europe/Berlin", "EUR")
        );
        let l = resolve(
            &wish(Some("DE"), Some("Germany"), Some("Asia/Seoul"), Some("USD")),
            &SetupChoices::default(),
            &lists(),
        )
        .unwrap();
        assert_eq!(
            (l.timezone.as_str(), l.currency.as_str()),
            ("Asia/Seoul", "USD")
        );
        // The default zone is kept when the asked country has it.
        let l = resolve(
            &wish(None, Some("United States"), None, None),
            &SetupChoices::default(),
            &lists(),
        )
        .unwrap();
        assert_eq!(l.timezone, "America/New_York");
    }

    #[test]
    fn what_frappe_does_not_list_is_refused_by_field() {
        let refused = |w: SetupChoices| {
            resolve(&w, &SetupChoices::default(), &lists())
                .unwrap_err()
                .field
        };
        assert_eq!(refused(wish(Some("Klingon"), None, None, None)), "language");
        assert_eq!(refused(wish(None, Some("Narnia"), None, None)), "country");
        assert_eq!(
            refused(wish(None, None, Some("Mars/Olympus"), None)),
            "timezone"
        );
        assert_eq!(refused(wish(None, None, None, Some("XYZ"))), "currency");
        assert_eq!(
            refused(wish(None, Some("Bouvet Island"), None, None)),
            "timezone"
        );
    }

    #[test]
    fn system_settings_follow_update_system_settings() {
        let l = resolve(
            &wish(None, Some("Japan"), None, None),
            &SetupChoices::default(),
            &lists(),
        )
        .unwrap();
        let v = l.system_settings();
        assert_eq!(
            v["number_format"], "#,###.##",
            "a format without decimals is widened"
        );
        assert_eq!(v["time_zone"], "Asia/Tokyo");
        assert_eq!(v["language"], "en");
        let args = l.wizard_args(None);
        assert_eq!(args["language"], "English");
        assert!(
            args.get("email").is_none(),
            "the wizard must not make a user"
        );
    }

    #[test]
    fn erpnext_company_follows_the_wizard() {
        let c = erpnext_company("Acme Trading  Company", "Germany", "2026-12-07");
        assert_eq!(c.abbr, "ATC");
        assert_eq!(
            (c.fy_start.as_str(), c.fy_end.as_str()),
            ("2026-01-01", "2026-12-31")
        );
        let c = erpnext_company("acme", "India", "2026-12-07");
        assert_eq!(c.abbr, "A");
        assert_eq!(
            (c.fy_start.as_str(), c.fy_end.as_str()),
            ("2026-04-01", "2027-03-31")
        );
        let c = erpnext_company("Acme", "India", "2027-02-10");
        assert_eq!(
            (c.fy_start.as_str(), c.fy_end.as_str()),
            ("2026-04-01", "2027-03-31")
        );
        let c = erpnext_company("a b c d e f g h i j k l", "Australia", "2026-07-01");
        assert_eq!(c.abbr, "ABCDEFGHIJ");
        assert_eq!(c.fy_start, "2026-07-01");
    }
}
