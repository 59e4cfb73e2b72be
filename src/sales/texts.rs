//! Everything the sales bot says, in Bahasa Indonesia and English.

use super::catalog::Package;
use crate::config::Language::{self, En, Id};

fn hello(lang: Language, name: Option<&str>) -> String {
    match (lang, name) {
        (Id, Some(n)) => format!("Halo kak {n} 👋"),
        (Id, None) => "Halo kak 👋".into(),
        (En, Some(n)) => format!("Hi {n} 👋"),
        (En, None) => "Hi there 👋".into(),
    }
}

fn month_year(lang: Language, p: &Package) -> String {
    let m = p.month().unwrap_or(1).clamp(1, 12) as usize - 1;
    let name = if lang == Id { super::catalog::BULAN[m] } else { super::catalog::MONTH[m] };
    format!("{name} {}", p.year().unwrap_or_default())
}

pub fn package_line(lang: Language, p: &Package) -> String {
    match lang {
        Id => format!(
            "• *{}* ({}) — {}, berangkat {}, {} hari",
            p.name,
            p.code,
            p.price,
            month_year(lang, p),
            p.duration_days
        ),
        En => format!(
            "• *{}* ({}) — {}, departs {}, {} days",
            p.name,
            p.code,
            p.price,
            month_year(lang, p),
            p.duration_days
        ),
    }
}

fn list(lang: Language, packages: &[&Package]) -> String {
    packages.iter().map(|p| package_line(lang, p)).collect::<Vec<_>>().join("\n")
}

pub fn package_info(lang: Language, name: Option<&str>, p: &Package) -> String {
    let features = p.features.iter().map(|f| format!("✓ {f}")).collect::<Vec<_>>().join("\n");
    match lang {
        Id => format!(
            "{}\nTerima kasih sudah menghubungi kami. Berikut detail *{}*:\n\n💰 Harga: *{}* per orang\n🗓️ Berangkat: {} ({})\n⏱️ Durasi: {} hari\n💺 Sisa kursi: {}\n\n{features}\n\nUntuk berapa orang kak rencananya?",
            hello(lang, name),
            p.name,
            p.price,
            p.departure,
            month_year(lang, p),
            p.duration_days,
            p.quota
        ),
        En => format!(
            "{}\nThank you for contacting us. Here are the details of *{}*:\n\n💰 Price: *{}* per person\n🗓️ Departure: {} ({})\n⏱️ Duration: {} days\n💺 Seats left: {}\n\n{features}\n\nHow many people will be travelling?",
            hello(lang, name),
            p.name,
            p.price,
            p.departure,
            month_year(lang, p),
            p.duration_days,
            p.quota
        ),
    }
}

pub fn package_full(lang: Language, p: &Package, alternatives: &[&Package]) -> String {
    match lang {
        Id => format!(
            "Mohon maaf kak, *{}* sudah penuh (kuota habis) 🙏\nPaket yang masih tersedia:\n{}\n\nMau saya kirimkan detail salah satunya?",
            p.name,
            list(lang, alternatives)
        ),
        En => format!(
            "Sorry, *{}* is fully booked 🙏\nPackages still available:\n{}\n\nShall I send you the details of one of them?",
            p.name,
            list(lang, alternatives)
        ),
    }
}

pub fn recommendation(lang: Language, matching: &[&Package], all: &[&Package]) -> String {
    match (lang, matching.is_empty()) {
        (Id, false) => format!(
            "Baik kak, untuk rencana tersebut paket yang cocok:\n{}\n\nMau saya kirimkan brosur lengkapnya?",
            list(lang, matching)
        ),
        (Id, true) => format!(
            "Untuk bulan itu belum ada jadwal kak. Paket yang tersedia:\n{}\n\nAda yang menarik?",
            list(lang, all)
        ),
        (En, false) => format!(
            "Great, these packages fit your plan:\n{}\n\nShall I send you the full brochure?",
            list(lang, matching)
        ),
        (En, true) => format!(
            "We have no departure in that month yet. Available packages:\n{}\n\nDoes any of them interest you?",
            list(lang, all)
        ),
    }
}

pub fn other_packages(lang: Language, available: &[&Package]) -> String {
    match lang {
        Id => format!("Berikut paket yang masih tersedia kak:\n{}\n\nMau detail yang mana?", list(lang, available)),
        En => format!(
            "Here are the packages still available:\n{}\n\nWhich one would you like to know more about?",
            list(lang, available)
        ),
    }
}

pub fn details(lang: Language, p: &Package, payment_terms: Option<&str>) -> String {
    let features = p.features.iter().map(|f| format!("✓ {f}")).collect::<Vec<_>>().join("\n");
    let terms = payment_terms.map(|t| format!("\n\n💳 {t}")).unwrap_or_default();
    // Only what the catalog says is included: never a stock list.
    let included = if p.included.is_empty() {
        String::new()
    } else {
        match lang {
            Id => format!("\n\nSudah termasuk: {}.", p.included.join(", ")),
            En => format!("\n\nIncluded: {}.", p.included.join(", ")),
        }
    };
    match lang {
        Id => format!(
            "Berikut brosur dan itinerary *{}* kak 📄\n{}, {} per orang, {} hari\n\nFasilitas & hotel:\n{features}{included}{terms}\n\nAda yang ingin ditanyakan lagi, atau mau langsung daftar?",
            p.name, p.departure, p.price, p.duration_days
        ),
        En => format!(
            "Here are the brochure and itinerary of *{}* 📄\n{}, {} per person, {} days\n\nFacilities & hotel:\n{features}{included}{terms}\n\nAnything else you would like to know, or shall we register you?",
            p.name, p.departure, p.price, p.duration_days
        ),
    }
}

/// Quick replies after package information.
pub fn next_steps(lang: Language) -> Vec<crate::channel::ReplyButton> {
    let button = |id: &str, title: &str| crate::channel::ReplyButton { id: id.into(), title: title.into() };
    match lang {
        Id => vec![button("other_packages", "Lihat paket lain"), button("talk_admin", "Bicara dengan admin")],
        En => vec![button("other_packages", "Other packages"), button("talk_admin", "Talk to admin")],
    }
}

pub fn handover(lang: Language) -> String {
    match lang {
        Id => "Terima kasih kak 🙏 Admin kami akan segera membalas di chat ini.".into(),
        En => "Thank you 🙏 One of our team will reply to you here shortly.".into(),
    }
}

pub fn office(lang: Language, name: &str, address: &str, hours: Option<&str>) -> String {
    let hours = hours.map(|h| format!("\n🕘 {h}")).unwrap_or_default();
    match lang {
        Id => format!("Kantor {name}:\n📍 {address}{hours}\n\nSilakan mampir kak, kami tunggu 😊"),
        En => format!("{name} office:\n📍 {address}{hours}\n\nYou are welcome to visit us 😊"),
    }
}

pub fn proof(lang: Language, name: &str) -> String {
    match lang {
        Id => format!("{name} adalah PPIU resmi berizin Kementerian Agama. Ini testimoni jamaah kami kak 🎥"),
        En => format!("{name} is a licensed umrah organiser (PPIU). Here is a testimonial from our pilgrims 🎥"),
    }
}

pub fn receipt_received(lang: Language) -> String {
    match lang {
        Id => "Terima kasih kak, bukti transfernya sudah kami terima 🙏 Admin kami akan memverifikasi dan membalas di chat ini.".into(),
        En => "Thank you, we have received your transfer receipt 🙏 Our admin will verify it and reply here.".into(),
    }
}

pub fn media_noted(lang: Language) -> String {
    match lang {
        Id => "Terima kasih kak, kiriman sudah kami terima dan catat 🙏".into(),
        En => "Thank you, we have received it 🙏".into(),
    }
}

pub fn please_type(lang: Language) -> String {
    match lang {
        Id => "Mohon maaf kak, kami belum bisa mendengarkan pesan suara. Boleh diketik saja pertanyaannya? 🙏".into(),
        En => "Sorry, we cannot listen to voice notes here. Could you type your question? 🙏".into(),
    }
}

/// The alert admins get in `[bot] admin_chats`.
pub fn admin_alert(
    prospect: &str,
    name: Option<&str>,
    phase: &str,
    package: Option<&str>,
    reason: &str,
    last: &str,
) -> String {
    format!(
        "🔔 *Handover* — {prospect}{}\nAlasan: {reason}\nFase: {phase}\nPaket: {}\nPesan terakhir: \"{last}\"\n\nBalas langsung di chat prospek; lepas dengan #crm release {prospect}.",
        name.map(|n| format!(" ({n})")).unwrap_or_default(),
        package.unwrap_or("-"),
    )
}

/// `Total 4 orang: Rp 130.000.000` when the party is known.
pub fn total(lang: Language, p: &Package, party: Option<u32>) -> String {
    match party.filter(|n| *n > 1) {
        Some(n) => {
            let sum = super::catalog::Idr(p.price.0.saturating_mul(n as u64));
            // Never promise seats that are not there.
            let short = match (n > p.quota, lang) {
                (true, Id) => format!(" (sisa kursi hanya {})", p.quota),
                (true, En) => format!(" (only {} seats left)", p.quota),
                (false, _) => String::new(),
            };
            match lang {
                Id => format!(" → total {n} orang: *{sum}*{short}"),
                En => format!(" → total for {n} people: *{sum}*{short}"),
            }
        }
        None => String::new(),
    }
}

fn priced_list(lang: Language, packages: &[&Package], party: Option<u32>) -> String {
    packages
        .iter()
        .map(|p| format!("{}{}", package_line(lang, p), total(lang, p, party)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asked by its code, a trip that has left: said so, with what is open.
pub fn package_departed(lang: Language, p: &Package, alternatives: &[&Package]) -> String {
    let alts = if alternatives.is_empty() {
        match lang {
            Id => "Saat ini belum ada paket lain yang dibuka; admin kami akan mengabari jadwal berikutnya.".to_string(),
            En => "No other package is open right now; our admin will tell you about the next departures.".to_string(),
        }
    } else {
        match lang {
            Id => format!(
                "Paket yang masih tersedia:\n{}\n\nMau saya kirimkan detail salah satunya?",
                list(lang, alternatives)
            ),
            En => format!(
                "Packages still available:\n{}\n\nShall I send you the details of one of them?",
                list(lang, alternatives)
            ),
        }
    };
    match lang {
        Id => format!("Mohon maaf kak, *{}* ({}) sudah berangkat pada {} 🙏\n{alts}", p.name, p.code, p.departure),
        En => format!("Sorry, *{}* ({}) already departed on {} 🙏\n{alts}", p.name, p.code, p.departure),
    }
}

/// The answer to "which is the cheapest / most expensive / cheaper / within my budget".
pub fn picks(lang: Language, lead: &str, packages: &[&Package], party: Option<u32>) -> String {
    match lang {
        Id => format!("{lead}\n{}\n\nMau saya kirimkan detail lengkapnya kak?", priced_list(lang, packages, party)),
        En => format!("{lead}\n{}\n\nShall I send you the full details?", priced_list(lang, packages, party)),
    }
}

pub fn lead_cheapest(lang: Language) -> &'static str {
    match lang {
        Id => "Paket paling terjangkau yang tersedia saat ini kak:",
        En => "Our most affordable package available now:",
    }
}

pub fn lead_most_expensive(lang: Language) -> &'static str {
    match lang {
        Id => "Paket paling premium yang tersedia saat ini kak:",
        En => "Our most premium package available now:",
    }
}

pub fn lead_cheaper(lang: Language, than: &Package) -> String {
    match lang {
        Id => format!("Ada kak, yang lebih hemat dari {} ({}):", than.name, than.price),
        En => format!("Yes, cheaper than {} ({}):", than.name, than.price),
    }
}

pub fn none_cheaper(lang: Language, p: &Package, available: &[&Package]) -> String {
    match lang {
        Id => format!(
            "*{}* ({}) sudah paket paling hemat yang tersedia saat ini kak 🙏\n\nSemua paket:\n{}",
            p.name,
            p.price,
            list(lang, available)
        ),
        En => format!(
            "*{}* ({}) is already our most affordable package available now 🙏\n\nAll packages:\n{}",
            p.name,
            p.price,
            list(lang, available)
        ),
    }
}

pub fn lead_budget(lang: Language, per_person: super::catalog::Idr) -> String {
    match lang {
        Id => format!("Untuk budget {per_person} per orang, paket yang masuk kak:"),
        En => format!("Within {per_person} per person, these packages fit:"),
    }
}

pub fn over_budget(lang: Language, per_person: super::catalog::Idr, cheapest: Option<&Package>) -> String {
    match (lang, cheapest) {
        (Id, Some(p)) => format!(
            "Mohon maaf kak, belum ada paket dengan harga {per_person} per orang atau kurang 🙏 Paket paling terjangkau saat ini:\n{}\n\nMau saya kirimkan detailnya?",
            package_line(lang, p)
        ),
        (En, Some(p)) => format!(
            "Sorry, no package is priced at {per_person} per person or less 🙏 Our most affordable one now:\n{}\n\nShall I send you its details?",
            package_line(lang, p)
        ),
        (Id, None) => "Mohon maaf kak, saat ini belum ada paket yang tersedia 🙏".into(),
        (En, None) => "Sorry, no package is available right now 🙏".into(),
    }
}

pub fn lead_party(lang: Language, n: u32) -> String {
    match lang {
        Id => format!("Baik kak, untuk {n} orang perkiraan biayanya:"),
        En => format!("Sure, for {n} people the cost would be:"),
    }
}

pub fn duration(lang: Language, packages: &[&Package]) -> String {
    let lines = packages
        .iter()
        .map(|p| match lang {
            Id => format!("• *{}*: {} hari, berangkat {}", p.name, p.duration_days, p.departure),
            En => format!("• *{}*: {} days, departs {}", p.name, p.duration_days, p.departure),
        })
        .collect::<Vec<_>>()
        .join("\n");
    match lang {
        Id => format!("Durasi perjalanannya kak:\n{lines}\n\nAda yang ingin ditanyakan lagi?"),
        En => format!("Trip length:\n{lines}\n\nAnything else you would like to know?"),
    }
}

pub fn included(lang: Language, p: &Package) -> String {
    let items = p.included.iter().map(|f| format!("✓ {f}")).collect::<Vec<_>>().join("\n");
    let out = if p.excluded.is_empty() {
        String::new()
    } else {
        let x = p.excluded.iter().map(|f| format!("✗ {f}")).collect::<Vec<_>>().join("\n");
        match lang {
            Id => format!("\n\nBelum termasuk:\n{x}"),
            En => format!("\n\nNot included:\n{x}"),
        }
    };
    match lang {
        Id => format!(
            "Harga *{}* ({} per orang) sudah termasuk:\n{items}{out}\n\nAda yang ingin ditanyakan lagi kak?",
            p.name, p.price
        ),
        En => format!(
            "The price of *{}* ({} per person) includes:\n{items}{out}\n\nAnything else you would like to know?",
            p.name, p.price
        ),
    }
}

pub fn excluded(lang: Language, p: &Package) -> String {
    let x = p.excluded.iter().map(|f| format!("✗ {f}")).collect::<Vec<_>>().join("\n");
    match lang {
        Id => format!("Yang belum termasuk harga *{}* kak:\n{x}\n\nAda yang ingin ditanyakan lagi?", p.name),
        En => format!("Not included in the price of *{}*:\n{x}\n\nAnything else you would like to know?", p.name),
    }
}

/// The hotel: only what the catalog says (its hotel, distance, or features naming a hotel).
pub fn hotel(lang: Language, p: &Package, facts: &[String]) -> String {
    let lines = facts.iter().map(|f| format!("🏨 {f}")).collect::<Vec<_>>().join("\n");
    match lang {
        Id => format!("Hotel untuk *{}* kak:\n{lines}\n\nAda yang ingin ditanyakan lagi?", p.name),
        En => format!("The hotel of *{}*:\n{lines}\n\nAnything else you would like to know?", p.name),
    }
}

pub fn hotel_distance(lang: Language, metres: u32) -> String {
    match lang {
        Id => format!("Jarak hotel ± {metres} m dari Masjidil Haram"),
        En => format!("About {metres} m from the Grand Mosque"),
    }
}

pub fn compare(lang: Language, packages: &[&Package]) -> String {
    let blocks = packages
        .iter()
        .map(|p| {
            let features = p.features.iter().map(|f| format!("  ✓ {f}")).collect::<Vec<_>>().join("\n");
            format!("{}\n{features}", package_line(lang, p))
        })
        .collect::<Vec<_>>()
        .join("\n\n");
    match lang {
        Id => format!("Perbandingannya kak:\n\n{blocks}\n\nMana yang lebih cocok untuk kakak?"),
        En => format!("Here is how they compare:\n\n{blocks}\n\nWhich one suits you better?"),
    }
}

pub fn prices(lang: Language, available: &[&Package], party: Option<u32>) -> String {
    match lang {
        Id => {
            format!("Harga paket kami per orang kak:\n{}\n\nMau detail yang mana?", priced_list(lang, available, party))
        }
        En => format!(
            "Our package prices per person:\n{}\n\nWhich one would you like to know more about?",
            priced_list(lang, available, party)
        ),
    }
}

/// A payment question before the prospect has seen a package: the packages
/// first, then the admin takes over.
pub fn payment_first(lang: Language, packages: &[&Package], terms: Option<&str>) -> String {
    let info = if packages.is_empty() {
        String::new()
    } else {
        match lang {
            Id => format!("Berikut paket yang tersedia kak:\n{}\n\n", list(lang, packages)),
            En => format!("Here are the packages available:\n{}\n\n", list(lang, packages)),
        }
    };
    let terms = terms.map(|t| format!("💳 {t}\n\n")).unwrap_or_default();
    match lang {
        Id => {
            format!("{info}{terms}Untuk pembayaran dan DP, admin kami akan langsung membantu kakak di chat ini ya 🙏")
        }
        En => format!("{info}{terms}For payment and the deposit, our admin will help you directly in this chat 🙏"),
    }
}

pub fn list_available(lang: Language, available: &[&Package]) -> String {
    list(lang, available)
}

pub fn name_hello(lang: Language, name: Option<&str>) -> String {
    hello(lang, name)
}
