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
    const ID_MONTHS: [&str; 12] = [
        "Januari",
        "Februari",
        "Maret",
        "April",
        "Mei",
        "Juni",
        "Juli",
        "Agustus",
        "September",
        "Oktober",
        "November",
        "Desember",
    ];
    const EN_MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let m = p.month().unwrap_or(1).clamp(1, 12) as usize - 1;
    let name = if lang == Id { ID_MONTHS[m] } else { EN_MONTHS[m] };
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

pub fn greeting(lang: Language, name: Option<&str>, available: &[&Package]) -> String {
    match lang {
        Id => format!(
            "{}\nTerima kasih sudah menghubungi kami. Boleh tahu untuk berapa orang dan rencana berangkat bulan apa, kak?\n\nPaket yang tersedia saat ini:\n{}",
            hello(lang, name),
            list(lang, available)
        ),
        En => format!(
            "{}\nThank you for contacting us. May I know how many people are travelling and which month you plan to depart?\n\nPackages available now:\n{}",
            hello(lang, name),
            list(lang, available)
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
    match lang {
        Id => format!(
            "Berikut brosur dan itinerary *{}* kak 📄\n\nFasilitas & hotel:\n{features}\n\nSudah termasuk tiket pesawat PP, visa, hotel, makan 3x sehari, bus AC dan muthawif.{terms}\n\nAda yang ingin ditanyakan lagi, atau mau langsung daftar?",
            p.name
        ),
        En => format!(
            "Here are the brochure and itinerary of *{}* 📄\n\nFacilities & hotel:\n{features}\n\nIncluded: return flights, visa, hotel, 3 meals a day, air-conditioned bus and a guide.{terms}\n\nAnything else you would like to know, or shall we register you?",
            p.name
        ),
    }
}

pub fn payment_redirect(lang: Language, p: Option<&Package>) -> String {
    let info = p.map(|p| format!("{}\n\n", package_line(lang, p))).unwrap_or_default();
    match lang {
        Id => format!("{info}Untuk pembayaran dan DP, admin kami akan langsung membantu kakak di chat ini ya 🙏"),
        En => format!("{info}For payment and the deposit, our admin will help you directly in this chat 🙏"),
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

pub fn smalltalk(lang: Language) -> String {
    match lang {
        Id => "Baik kak 🙏 Kalau ada yang ingin ditanyakan tentang paket umroh kami, silakan ya.".into(),
        En => "Sure 🙏 If you have any question about our umrah packages, just ask.".into(),
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
