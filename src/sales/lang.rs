//! Which language a prospect writes in: Bahasa Indonesia or English, by the
//! words they use. Unclear messages (a bare code, "ok") keep the last language.

use crate::config::Language;

const EN: &[&str] = &[
    "hi", "hello", "what", "how", "when", "where", "which", "who", "why", "i", "you", "we", "my", "your", "the", "is",
    "are", "do", "does", "can", "could", "please", "want", "would", "price", "pay", "deposit", "saw", "ad", "will",
    "stay", "hotel", "thanks", "thank", "package", "packages", "much", "about", "need", "with", "in", "of", "to",
];

const ID: &[&str] = &[
    "halo",
    "hai",
    "kak",
    "kakak",
    "mau",
    "berapa",
    "apa",
    "saja",
    "aja",
    "bisa",
    "ya",
    "dong",
    "saya",
    "kami",
    "bayar",
    "paket",
    "tanya",
    "yang",
    "untuk",
    "ada",
    "dengan",
    "nya",
    "gimana",
    "bagaimana",
    "harga",
    "terima",
    "kasih",
    "minta",
    "tolong",
    "sama",
    "bedanya",
    "bulan",
    "orang",
    "rencana",
    "assalamualaikum",
    "fasilitasnya",
    "dulu",
    "masih",
    "jadwal",
    "keberangkatan",
    "tanggal",
    "min",
    "admin",
    "bicara",
    "langsung",
    "lain",
    "lengkapnya",
    "sudah",
    "belum",
    "kapan",
    "dimana",
    "di",
    "ini",
    "itu",
    "tidak",
    "nggak",
    "gak",
    "boleh",
    "pak",
    "bu",
    "mas",
    "mbak",
];

pub fn detect(text: &str) -> Option<Language> {
    let (mut en, mut id) = (0, 0);
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let w = word.to_lowercase();
        if EN.contains(&w.as_str()) {
            en += 1;
        }
        if ID.contains(&w.as_str()) || w.ends_with("nya") {
            id += 1;
        }
    }
    match (en, id) {
        (0, 0) => None,
        (en, id) if en > id => Some(Language::En),
        _ => Some(Language::Id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_language_is_recognised() {
        assert_eq!(detect("Hi, I saw your ad UMR_JAN_2027_PLUS"), Some(Language::En));
        assert_eq!(detect("What hotel will we stay in?"), Some(Language::En));
        assert_eq!(detect("Fasilitasnya apa saja ya?"), Some(Language::Id));
        assert_eq!(detect("DP berapa?"), Some(Language::Id));
        assert_eq!(detect("UMR_MAR_2025_HEMAT"), None);
    }
}
