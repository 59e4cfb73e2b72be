//! Every text a WhatsApp user reads from the runtime core, per language.
//! Identifiers, logs and comments stay in English.

use crate::config::Language;

/// The reply to a message juru cannot read (an unsupported type, an empty interactive).
pub fn could_not_read(lang: Language) -> String {
    match lang {
        Language::Id => "Mohon maaf kak, pesan tadi tidak bisa kami baca 🙏 Boleh dikirim sebagai teks?".into(),
        Language::En => "Sorry, we could not read that message 🙏 Could you send it as text?".into(),
    }
}

/// The reply to `[sales] keyword_finish`.
pub fn session_finished(lang: Language) -> String {
    match lang {
        Language::Id => {
            "Terima kasih kak, sesi ini kami tutup 🙏 Kirim pesan kapan saja bila ingin bertanya lagi.".into()
        }
        Language::En => "Thank you, this session is closed 🙏 Message us any time.".into(),
    }
}

/// The acknowledgement sent until a conversation brain answers for real.
pub fn acknowledgement(lang: Language, name: Option<&str>) -> String {
    match (lang, name) {
        (Language::Id, Some(name)) => {
            format!("Halo kak {name}, pesan Anda sudah kami terima 🙏 Tim kami segera membalas.")
        }
        (Language::Id, None) => "Halo kak, pesan Anda sudah kami terima 🙏 Tim kami segera membalas.".into(),
        (Language::En, Some(name)) => {
            format!("Hi {name}, we have received your message 🙏 Our team will reply shortly.")
        }
        (Language::En, None) => "Hi, we have received your message 🙏 Our team will reply shortly.".into(),
    }
}

/// The reply to STOP / BERHENTI.
pub fn opted_out(lang: Language) -> String {
    match lang {
        Language::Id => {
            "Baik kak, kami tidak akan mengirim pesan promosi lagi 🙏 Anda tetap bisa menghubungi kami kapan saja."
                .into()
        }
        Language::En => {
            "Done — we will not send you follow-up messages again 🙏 You can still message us any time.".into()
        }
    }
}
