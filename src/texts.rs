//! Every text a WhatsApp user reads from the runtime core and the frame of
//! every command reply (labels, refusals, errors), per language: owners and
//! staff read `[bot] language`, prospects the language of their chat.
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

/// The reply to an owner or staff member whose text is not a command (the
/// sales bot does not answer the team, and their text makes no lead).
pub fn team_not_a_command(lang: Language, prefix: &str) -> String {
    match lang {
        Language::Id => format!(
            "ℹ️ Pesan ini bukan perintah. Anda terdaftar sebagai pemilik/staf, jadi bot penjualan tidak membalas \
             dan tidak mencatat Anda sebagai lead (coba bot di playground dashboard). Daftar perintah: {prefix}help"
        ),
        Language::En => format!(
            "ℹ️ That is not a command. You are listed as owner/staff, so the sales bot does not answer you or \
             record you as a lead (try the bot in the dashboard's playground). Commands: {prefix}help"
        ),
    }
}

/// To `[bot] admin_chats` when a handed-over prospect still waits.
pub fn handover_reminder(lang: Language, chat: &str, waited_min: u64, prefix: &str) -> String {
    match lang {
        Language::Id => format!(
            "⏰ *Handover menunggu* — {chat} sudah menunggu {waited_min} menit tanpa balasan admin.\n\
             Balas langsung di chat prospek; kembalikan ke bot dengan {prefix}crm release {chat}."
        ),
        Language::En => format!(
            "⏰ *Handover waiting* — {chat} has waited {waited_min} min without an admin's reply.\n\
             Reply in the prospect's chat; give it back to the bot with {prefix}crm release {chat}."
        ),
    }
}

/// To the prospect when nobody took their handed-over chat in time.
pub fn handover_timed_out(lang: Language) -> String {
    match lang {
        Language::Id => "Mohon maaf kak, admin kami belum sempat membalas 🙏 Sementara ini saya bantu lagi; \
             silakan tulis pertanyaan kakak."
            .into(),
        Language::En => {
            "Sorry, our admin has not been able to reply yet 🙏 I can help you again meanwhile; just write your question."
                .into()
        }
    }
}

/// `*Usage:*` before a command's usage line.
pub fn usage_label(lang: Language) -> &'static str {
    match lang {
        Language::Id => "Cara pakai",
        Language::En => "Usage",
    }
}

/// `*Example:*` before a command's example.
pub fn example_label(lang: Language) -> &'static str {
    match lang {
        Language::Id => "Contoh",
        Language::En => "Example",
    }
}

/// Before `#help COMMAND` / `#crm help SUBCOMMAND`.
pub fn details_label(lang: Language) -> &'static str {
    match lang {
        Language::Id => "Rincian",
        Language::En => "Details",
    }
}

/// The heading of `#help`.
pub fn commands_you_can_use(lang: Language) -> &'static str {
    match lang {
        Language::Id => "Perintah yang bisa Anda pakai",
        Language::En => "Commands you can use",
    }
}

/// `#help` when no command is open to the sender here.
pub fn none_here(lang: Language) -> &'static str {
    match lang {
        Language::Id => "tidak ada di sini",
        Language::En => "none here",
    }
}

/// `#help NAME` for a name no command has.
pub fn no_such_command(lang: Language, name: &str, prefix: &str) -> String {
    match lang {
        Language::Id => format!("perintah `{name}` tidak ada; kirim {prefix}help"),
        Language::En => format!("there is no command `{name}`; send {prefix}help"),
    }
}

/// `#crm help NAME` for a name no subcommand has.
pub fn no_such_subcommand(lang: Language, typed: &str) -> String {
    match lang {
        Language::Id => format!("`{typed}` tidak ada."),
        Language::En => format!("There is no `{typed}`."),
    }
}

/// A command whose manifest file is broken, with the file and key named.
pub fn command_disabled(lang: Language, command: &str, problem: &str) -> String {
    match lang {
        Language::Id => format!("❌ {command} dinonaktifkan sampai manifest-nya diperbaiki: {problem}"),
        Language::En => format!("❌ {command} is disabled until its manifest is fixed: {problem}"),
    }
}

/// `#help`'s line for such a command.
pub fn manifest_broken(lang: Language) -> &'static str {
    match lang {
        Language::Id => "nonaktif: manifest-nya rusak",
        Language::En => "disabled: its manifest is broken",
    }
}

/// A manifest whose handler this build lacks.
pub fn command_not_built(lang: Language, command: &str) -> String {
    match lang {
        Language::Id => format!("{command} tidak tersedia di versi ini"),
        Language::En => format!("{command} is not available in this build"),
    }
}

/// A command that failed on juru's side.
pub fn command_failed(lang: Language) -> String {
    match lang {
        Language::Id => "❌ Ada gangguan di sistem kami; tidak ada yang diubah. Silakan coba lagi.".into(),
        Language::En => "❌ Something went wrong on our side; nothing was changed. Please try again.".into(),
    }
}
