//! Bahasa Indonesia: the default for owners and staff (`[bot] language = "id"`).

use super::{Builtin, SalesReport, SyncSummary, Texts};
use crate::crm::company::CompanyKind;
use crate::crm::contact::{FieldError, SETTABLE_FIELDS};
use crate::crm::deal::MoveError;
use crate::crm::scoring::{RULE_LIMIT, RuleError, ScoringRules};
use crate::crm::seats::{OnSale, Standing};
use crate::crm::settings::Platform;

pub struct Id;

impl Texts for Id {
    // ------------------------------------------------------------ runtime core

    fn could_not_read(&self) -> String {
        "Mohon maaf kak, pesan tadi tidak bisa kami baca 🙏 Boleh dikirim sebagai teks?".into()
    }

    fn session_finished(&self) -> String {
        "Terima kasih kak, sesi ini kami tutup 🙏 Kirim pesan kapan saja bila ingin bertanya lagi.".into()
    }

    fn acknowledgement(&self, name: Option<&str>) -> String {
        match name {
            Some(name) => format!("Halo kak {name}, pesan Anda sudah kami terima 🙏 Tim kami segera membalas."),
            None => "Halo kak, pesan Anda sudah kami terima 🙏 Tim kami segera membalas.".into(),
        }
    }

    fn opted_out(&self) -> String {
        "Baik kak, kami tidak akan mengirim pesan promosi lagi 🙏 Anda tetap bisa menghubungi kami kapan saja.".into()
    }

    fn team_not_a_command(&self, prefix: &str) -> String {
        format!(
            "ℹ️ Pesan ini bukan perintah. Anda terdaftar sebagai pemilik/staf, jadi bot penjualan tidak membalas \
             dan tidak mencatat Anda sebagai lead (coba bot di playground dashboard). Daftar perintah: {prefix}help"
        )
    }

    fn handover_reminder(&self, chat: &str, waited_min: u64, prefix: &str) -> String {
        format!(
            "⏰ *Handover menunggu* — {chat} sudah menunggu {waited_min} menit tanpa balasan admin.\n\
             Balas langsung di chat prospek; kembalikan ke bot dengan {prefix}crm release {chat}."
        )
    }

    fn handover_timed_out(&self) -> String {
        "Mohon maaf kak, admin kami belum sempat membalas 🙏 Sementara ini saya bantu lagi; \
         silakan tulis pertanyaan kakak."
            .into()
    }

    // ------------------------------------------------------------ the frame of every command reply

    fn describe(&self, what: Builtin) -> &'static str {
        match what {
            Builtin::Crm => "Lead, kontak, deal, laporan dan koneksi CRM",
            Builtin::CrmLeads => "Lead terbaru, rincian satu lead, atau lead paling hot menurut skor",
            Builtin::CrmContacts => "Lihat, cari dan ubah kontak; catat aktivitas",
            Builtin::CrmCompany => "Badan usaha, brand dan lokasinya (B2B)",
            Builtin::CrmDeals => {
                "Buat deal dan pindahkan tahapnya: lead → qualified → discovery → proposal → negotiation → won | lost → retention"
            }
            Builtin::CrmPipeline => "Jumlah dan nilai deal per tahap, ditimbang dengan peluang tiap tahap",
            Builtin::CrmReports => "Konversi, nilai deal, lama siklus, win rate; lead per sumber dan kampanye",
            Builtin::CrmLeadScore => "Aturan skor lead (poin engagement, minat, demografi)",
            Builtin::CrmSegment => "Filter kontak yang disimpan, mis. lead_score > 75 and segment = Cafe",
            Builtin::CrmNurtureSequence => {
                "Pesan follow-up di hari ke-N untuk kontak yang setuju dikirimi (mereka bisa membalas STOP)"
            }
            Builtin::CrmConnect => "Pilih platform CRM yang disinkronkan",
            Builtin::CrmAuth => {
                "Simpan kredensial platform (terenkripsi, tidak ditampilkan lagi) atau minta link otorisasi"
            }
            Builtin::CrmSync => "Antrekan sinkronisasi ke platform yang terhubung dan lihat isi antrean",
            Builtin::CrmFieldMapping => "Field platform tujuan untuk tiap field lokal",
            Builtin::CrmRelease => "Kembalikan chat yang di-handover atau dijeda ke bot",
            Builtin::Help => "Daftar perintah yang bisa Anda pakai",
            Builtin::Label => "Pasang atau lepas label WhatsApp di kontak, tercatat atas nama Anda",
            Builtin::LabelAdd => "Pasang label (yang sudah ada di WhatsApp) ke kontak",
            Builtin::LabelRemove => "Lepas label dari kontak",
            Builtin::LabelList => "Daftar label dan jumlah kontaknya, atau label satu kontak",
            Builtin::Paket => "Paket yang dijual dengan sisa kursi, kursi ditahan dan terjual; atur sisa kursi",
            Builtin::PaketList => "Semua paket: sisa kursi dari kuotanya, ditahan booking, terjual lewat deal won",
            Builtin::PaketKuota => "Atur sisa kursi sebuah paket mulai sekarang (0 = penuh: bot menawarkan paket lain)",
        }
    }

    fn usage_label(&self) -> &'static str {
        "Cara pakai"
    }

    fn example_label(&self) -> &'static str {
        "Contoh"
    }

    fn details_label(&self) -> &'static str {
        "Rincian"
    }

    fn commands_you_can_use(&self) -> &'static str {
        "Perintah yang bisa Anda pakai"
    }

    fn none_here(&self) -> &'static str {
        "tidak ada di sini"
    }

    fn no_such_command(&self, name: &str, prefix: &str) -> String {
        format!("perintah `{name}` tidak ada; kirim {prefix}help")
    }

    fn no_such_subcommand(&self, typed: &str) -> String {
        format!("`{typed}` tidak ada.")
    }

    fn command_disabled(&self, command: &str, problem: &str) -> String {
        format!("❌ {command} dinonaktifkan sampai manifest-nya diperbaiki: {problem}")
    }

    fn manifest_broken(&self) -> &'static str {
        "nonaktif: manifest-nya rusak"
    }

    fn command_not_built(&self, command: &str) -> String {
        format!("{command} tidak tersedia di versi ini")
    }

    fn command_failed(&self) -> String {
        "❌ Ada gangguan di sistem kami; tidak ada yang diubah. Silakan coba lagi.".into()
    }

    fn subcommand_not_built(&self, sub: &str) -> String {
        format!("`{sub}` tercantum di crm.toml tetapi tidak tersedia di versi ini")
    }

    fn unknown_subcommand(&self, sub: &str) -> String {
        format!("subperintah `{sub}` tidak dikenal")
    }

    fn unknown_action(&self, action: &str) -> String {
        format!("aksi `{action}` tidak dikenal")
    }

    fn and_more(&self, n: usize) -> String {
        format!("…dan {n} lainnya")
    }

    // ------------------------------------------------------------ refusals

    fn refused_private_only(&self) -> String {
        "perintah ini hanya bisa dipakai di chat pribadi.".into()
    }

    fn refused_group_only(&self) -> String {
        "perintah ini hanya bisa dipakai di grup.".into()
    }

    fn refused_admin_group_only(&self) -> String {
        "perintah ini khusus admin grup.".into()
    }

    fn refused_owner_only(&self) -> String {
        "perintah ini khusus owner.".into()
    }

    fn refused_premium_only(&self) -> String {
        "perintah ini khusus pengguna premium.".into()
    }

    fn refused_plan(&self, required: &str, current: &str) -> String {
        format!("butuh paket *{required}* (bot ini paket {current}).")
    }

    fn refused_level(&self, required: u32, current: u32) -> String {
        format!("butuh level {required} (level kamu {current}).")
    }

    fn refused_cooldown(&self, seconds_left: u64) -> String {
        format!("tunggu {seconds_left} detik lagi (cooldown).")
    }

    fn refused_daily_limit(&self, limit: u32) -> String {
        format!("batas harian tercapai ({limit}× per hari), coba lagi besok.")
    }

    // ------------------------------------------------------------ arguments

    fn args_unterminated_quote(&self, column: usize) -> String {
        format!("tanda kutip yang dibuka di kolom {column} belum ditutup")
    }

    fn args_unknown_flag(&self, name: &str) -> String {
        format!("opsi --{name} tidak dikenal")
    }

    fn args_missing_value(&self, name: &str) -> String {
        format!("--{name} perlu diisi nilainya")
    }

    fn args_unexpected_value(&self, name: &str) -> String {
        format!("--{name} tidak memakai nilai")
    }

    fn args_repeated(&self, name: &str) -> String {
        format!("--{name} ditulis dua kali")
    }

    fn args_missing(&self, what: &str) -> String {
        format!("{what} belum diisi")
    }

    fn args_extra(&self, text: &str) -> String {
        format!("\"{text}\" tidak diperlukan di sini")
    }

    fn args_not_a_number(&self, name: &str, text: &str) -> String {
        format!("--{name} harus berupa angka, bukan \"{text}\"")
    }

    // ------------------------------------------------------------ contacts and leads

    fn not_a_phone(&self, text: &str) -> String {
        format!("\"{text}\" bukan nomor HP (contoh: 6281234567890)")
    }

    fn no_contact(&self, key: &str) -> String {
        format!("belum ada kontak {key}")
    }

    fn contact_line(&self, name: &str, phone: Option<&str>, stage: &str, score: i64, campaign: Option<&str>) -> String {
        let phone = phone.map(|p| format!(" ({p})")).unwrap_or_default();
        let campaign = campaign.map(|c| format!(", {c}")).unwrap_or_default();
        format!("*{name}*{phone} — {stage}, skor {score}{campaign}")
    }

    fn leads_heading(&self, total: usize) -> String {
        format!("*Lead* ({total}), terbaru di atas")
    }

    fn no_hot_leads(&self, threshold: i64) -> String {
        format!("Belum ada lead yang mencapai skor hot ({threshold}).")
    }

    fn hot_leads_heading(&self, threshold: i64, total: usize) -> String {
        format!("🔥 *Lead hot* (skor ≥ {threshold}): {total}")
    }

    fn contacts_heading(&self, total: usize) -> String {
        format!("*Kontak* ({total}), terbaru di atas")
    }

    fn no_contact_matches(&self, needle: &str) -> String {
        format!("Tidak ada kontak yang cocok dengan \"{needle}\".")
    }

    fn contacts_match_heading(&self, total: usize, needle: &str) -> String {
        format!("*{total} kontak cocok dengan \"{needle}\"*")
    }

    fn card_phone(&self, phone: &str) -> String {
        format!("No. HP: {phone}")
    }

    fn card_stage(&self, stage: &str, score: i64) -> String {
        format!("Tahap: {stage} · skor {score}")
    }

    fn card_source(&self, source: &str, campaign: Option<&str>) -> String {
        format!("Sumber: {source}{}", campaign.map(|c| format!(" ({c})")).unwrap_or_default())
    }

    fn card_first_contact(&self, at: &str, messages: u64) -> String {
        format!("Kontak pertama: {at} · {messages} pesan")
    }

    fn card_last_message(&self, at: &str) -> String {
        format!("Pesan terakhir: {at}")
    }

    fn card_first_message(&self, text: &str) -> String {
        format!("Pesan pertama: \"{text}\"")
    }

    fn card_group(&self, group: &str, segment: Option<&str>) -> String {
        format!("Grup: {group} · segmen {}", segment.unwrap_or("-"))
    }

    fn card_email(&self, email: &str) -> String {
        format!("Email: {email}")
    }

    fn card_pic(&self, pic: &str) -> String {
        format!("PIC: {pic}")
    }

    fn card_estimated_value(&self, value: &str) -> String {
        format!("Perkiraan nilai: {value}")
    }

    fn card_labels(&self, labels: &str) -> String {
        format!("Label: {labels}")
    }

    fn card_opt_in(&self, opted_in: bool) -> String {
        format!("Setuju dikirimi WhatsApp: {}", if opted_in { "ya" } else { "tidak" })
    }

    fn card_deals_heading(&self) -> &'static str {
        "*Deal*"
    }

    fn card_activity_heading(&self) -> &'static str {
        "*Aktivitas terakhir*"
    }

    fn field_not_settable(&self, field: &str, settable: &str) -> String {
        format!("{field} tidak bisa diubah; field yang bisa diubah: {settable}")
    }

    fn field_refused(&self, e: &FieldError) -> String {
        match e {
            FieldError::NotYesNo { field, value } => format!("{field} diisi yes atau no, bukan \"{value}\""),
            FieldError::NotEmail(value) => format!("\"{value}\" bukan alamat email"),
            FieldError::CustomerGroup => "customer_group diisi B2B atau B2C".into(),
            FieldError::Segment => {
                "segment diisi salah satu dari Cafe, Restaurant, Hotel, Office (B2B) atau Personal (B2C)".into()
            }
            FieldError::SourceMethod => {
                "source_method diisi salah satu dari canvassing, event, cso_academy, referral, meta_ads, whatsapp"
                    .into()
            }
            FieldError::NotRupiah(value) => format!("\"{value}\" bukan nominal rupiah"),
            FieldError::NotSettable { field } => self.field_not_settable(field, &SETTABLE_FIELDS.join(", ")),
        }
    }

    fn move_refused(&self, e: &MoveError) -> String {
        match e {
            MoveError::AlreadyIn(stage) => format!("deal ini sudah di tahap {}", stage.as_str()),
            MoveError::RetentionBeforeWon => "retention hanya bisa setelah won".into(),
            MoveError::Closed { from, to } => {
                format!("deal ini sudah {} dan tidak bisa dipindah ke {}", from.as_str(), to.as_str())
            }
            MoveError::NeedsReason(stage) => format!("deal {} wajib diberi alasan (--reason \"…\")", stage.as_str()),
        }
    }

    fn rule_refused(&self, e: &RuleError) -> String {
        match e {
            RuleError::NotWholeNumber { key, value } => format!("{key} harus bilangan bulat, bukan \"{value}\""),
            RuleError::OutOfRange { key } => format!("{key} harus antara -{RULE_LIMIT} dan {RULE_LIMIT}"),
            RuleError::Unknown { key } => {
                format!("aturan \"{key}\" tidak dikenal; aturan yang ada: {}", ScoringRules::KEYS.join(", "))
            }
        }
    }

    fn api_key_hint(&self, platform: Platform) -> String {
        match platform {
            Platform::Hubspot => {
                "HubSpot → Settings → Integrations → Private apps (atau Service key): salin access token-nya".into()
            }
            Platform::Salesforce => {
                "Salesforce memakai OAuth: jalankan `#crm auth --platform salesforce --oauth`".into()
            }
            Platform::Pipedrive => "Pipedrive → Settings → Personal preferences → API: salin API token Anda".into(),
            Platform::Zoho => "Zoho memakai OAuth: jalankan `#crm auth --platform zoho --oauth`".into(),
            Platform::Freshsales => "Freshsales → Profile settings → API settings: salin API key Anda".into(),
            Platform::Dynamics => "Azure portal → Microsoft Entra ID → App registrations → aplikasi Anda → \
                                   Certificates & secrets: salin Value dari secret-nya (lalu isi [crm.dynamics] \
                                   org_url, tenant, client_id)"
                .into(),
        }
    }

    fn unknown_activity_type(&self, typed: &str, types: &str) -> String {
        format!("jenis aktivitas `{typed}` tidak dikenal; pilihan: {types}")
    }

    fn unknown_outcome(&self, typed: &str, outcomes: &str) -> String {
        format!("hasil `{typed}` tidak dikenal; pilihan: {outcomes}")
    }

    fn bad_date(&self, typed: &str) -> String {
        format!("--date ditulis YYYY-MM-DD, bukan \"{typed}\"")
    }

    fn activity_logged(&self, kind: &str, category: &str, contact: &str, outcome: &str) -> String {
        format!("📝 Tercatat {kind} ({category}) dengan {contact} → {outcome}")
    }

    fn not_a_chat(&self, typed: &str) -> String {
        format!("\"{typed}\" bukan chat")
    }

    fn released(&self, key: &str) -> String {
        format!("✅ Chat {key} sudah dikembalikan ke bot.")
    }

    // ------------------------------------------------------------ companies

    fn company_kind(&self, kind: CompanyKind) -> &'static str {
        match kind {
            CompanyKind::LegalEntity => "badan usaha",
            CompanyKind::Brand => "brand",
            CompanyKind::Location => "lokasi",
        }
    }

    fn no_companies(&self, cmd: &str) -> String {
        format!("Belum ada perusahaan. Mulai dengan: {cmd} company add entity \"PT …\" --segment Cafe")
    }

    fn companies_heading(&self) -> &'static str {
        "*Perusahaan*"
    }

    fn company_kind_unknown(&self, typed: &str) -> String {
        format!("`{typed}`: pilih add entity, brand atau location")
    }

    fn company_name_needs_letters(&self) -> String {
        "nama harus berisi huruf atau angka".into()
    }

    fn company_exists(&self, name: &str) -> String {
        format!("\"{name}\" sudah ada")
    }

    fn company_needs_parent(&self, kind: &str, flag: &str) -> String {
        format!("{kind} perlu --{flag}")
    }

    fn no_company_named(&self, kind: &str, name: &str) -> String {
        format!("tidak ada {kind} bernama \"{name}\"")
    }

    fn company_bad_segment(&self) -> String {
        "segmen harus salah satu dari Cafe, Restaurant, Hotel, Office, Personal".into()
    }

    fn company_segment_on_entity(&self) -> String {
        "--segment diisi di badan usaha (entity); brand dan lokasi mengikutinya".into()
    }

    fn company_added(&self, kind: &str, name: &str) -> String {
        let mut kind = kind.to_string();
        if let Some(first) = kind.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        format!("✅ {kind} *{name}* ditambahkan")
    }

    // ------------------------------------------------------------ deals, pipeline, reports

    fn not_a_deal_id(&self, typed: &str) -> String {
        format!("\"{typed}\" bukan id deal (contoh: D3)")
    }

    fn no_open_deals(&self, cmd: &str) -> String {
        format!("Belum ada deal terbuka. Buat dengan: {cmd} deals create --title \"…\" --value 5000000")
    }

    fn open_deals_heading(&self, n: usize) -> String {
        format!("*Deal terbuka* ({n})")
    }

    fn no_deal(&self, id: u64) -> String {
        format!("deal D{id} tidak ada")
    }

    fn deal_contact(&self, name: &str, key: &str) -> String {
        format!("Kontak: {name} ({key})")
    }

    fn deal_company(&self, name: &str, kind: &str) -> String {
        format!("Perusahaan: {name} ({kind})")
    }

    fn deal_invoice_to(&self, name: &str) -> String {
        format!("Invoice ke: {name}")
    }

    fn deal_segment(&self, segment: &str) -> String {
        format!("Segmen: {segment}")
    }

    fn deal_reason(&self, reason: &str) -> String {
        format!("Alasan: {reason}")
    }

    fn deal_history_heading(&self) -> &'static str {
        "*Riwayat*"
    }

    fn deal_history_line(&self, at: &str, from: Option<&str>, to: &str, by: &str, reason: Option<&str>) -> String {
        let reason = reason.map(|r| format!(" ({r})")).unwrap_or_default();
        format!("• {at} {} → {to} oleh {by}{reason}", from.unwrap_or("baru"))
    }

    fn not_an_amount(&self, typed: &str) -> String {
        format!("--value \"{typed}\" bukan nominal rupiah")
    }

    fn no_brand_or_location(&self, name: &str) -> String {
        format!("tidak ada brand atau lokasi bernama \"{name}\"")
    }

    fn deal_created(&self, summary: &str) -> String {
        format!("✅ Deal dibuat: {summary}")
    }

    fn unknown_stage(&self, typed: &str, stages: &str) -> String {
        format!("tahap `{typed}` tidak dikenal; pilihan: {stages}")
    }

    fn pipeline_heading(&self) -> &'static str {
        "*Pipeline*"
    }

    fn pipeline_stage(&self, stage: &str, probability: u64, deals: u64, value: &str, weighted: &str) -> String {
        format!("• *{stage}* ({probability}%): {deals} deal, {value} → tertimbang {weighted}")
    }

    fn pipeline_total(&self, deals: u64, weighted_open: &str) -> String {
        format!("{deals} deal; pipeline terbuka tertimbang *{weighted_open}*")
    }

    fn period_today(&self) -> &'static str {
        "hari ini (24 jam terakhir)"
    }

    fn period_last_days(&self, days: u64) -> String {
        format!("{days} hari terakhir")
    }

    fn bad_period(&self, typed: &str) -> String {
        format!("--period diisi daily, weekly atau monthly, bukan \"{typed}\"")
    }

    fn cycle_days(&self, days: f64) -> String {
        format!("{days:.1} hari")
    }

    fn sales_report(&self, r: &SalesReport<'_>) -> String {
        [
            format!("📊 *Performa penjualan* — {}", r.period),
            format!("• Lead baru: {}", r.new_leads),
            format!("• Konversi lead: {} ({} menang)", r.conversion, r.converted),
            format!("• Deal selesai: {} ({} menang, {} kalah)", r.closed, r.won, r.lost),
            format!("• Win rate: {}", r.win_rate),
            format!("• Rata-rata nilai deal: {}", r.average_deal),
            format!("• Lama siklus penjualan: {}", r.cycle),
            format!("• Pipeline tertimbang (terbuka): {}", r.weighted_open),
        ]
        .join("\n")
    }

    fn unknown_report(&self, typed: &str) -> String {
        format!("laporan `{typed}` tidak dikenal")
    }

    fn attribution_heading(&self) -> &'static str {
        "📈 *Atribusi* (lead dan konversi per sumber)"
    }

    fn attribution_line(&self, source: &str, leads: usize, won: usize, rate: f64) -> String {
        format!("*{source}*: {leads} lead, {won} menang ({rate:.1}%)")
    }

    // ------------------------------------------------------------ scoring and segments

    fn scoring_rules(&self, rules: &str, cmd: &str) -> String {
        format!("*Aturan skor lead*\n{rules}\n\nUbah salah satu: {cmd} lead-score configure set KEY VALUE")
    }

    fn scoring_set(&self, key: &str, value: &str) -> String {
        format!("✅ {key} = {value}; skor memakai nilai ini mulai sekarang.")
    }

    fn filter_error(&self, error: &str, source: &str, caret: &str) -> String {
        format!("filter salah: {error}\n```{source}\n{caret}```")
    }

    fn no_segments(&self, cmd: &str) -> String {
        format!("Belum ada segmen. Buat dengan: {cmd} segment create \"NAMA\" --where \"lead_score > 75\"")
    }

    fn segments_heading(&self) -> &'static str {
        "*Segmen*"
    }

    fn segment_line(&self, name: &str, members: usize, filter: &str) -> String {
        format!("*{name}*: {members} kontak — `{filter}`")
    }

    fn segment_invalid(&self, name: &str, error: &str) -> String {
        format!("*{name}*: filter sudah tidak berlaku ({error})")
    }

    fn segment_exists(&self, name: &str) -> String {
        format!("segmen \"{name}\" sudah ada; hapus dulu")
    }

    fn segment_created(&self, name: &str, members: usize) -> String {
        format!("✅ Segmen *{name}* dibuat: {members} kontak cocok saat ini.")
    }

    fn no_segment(&self, name: &str) -> String {
        format!("tidak ada segmen bernama \"{name}\"")
    }

    fn segment_member(&self, name: &str, phone: &str, score: i64) -> String {
        format!("{name} ({phone}) — skor {score}")
    }

    fn segment_shown(&self, name: &str, filter: &str, total: usize, members: &str) -> String {
        format!("*{name}* — `{filter}`\n{total} anggota, skor tertinggi di atas\n{members}")
    }

    fn segment_deleted(&self, name: &str) -> String {
        format!("🗑️ Segmen \"{name}\" dihapus.")
    }

    // ------------------------------------------------------------ nurture sequences

    fn no_sequence(&self, name: &str) -> String {
        format!("tidak ada sequence bernama \"{name}\"")
    }

    fn no_sequences(&self, cmd: &str) -> String {
        format!("Belum ada sequence. Buat dengan: {cmd} nurture-sequence create \"Sambutan Lead Baru\"")
    }

    fn sequences_heading(&self) -> &'static str {
        "*Nurture sequence*"
    }

    fn sequence_line(&self, name: &str, steps: usize, days: &str, running: usize) -> String {
        format!("*{name}*: {steps} langkah ({days}), {running} kontak sedang berjalan")
    }

    fn day(&self, n: u32) -> String {
        format!("hari ke-{n}")
    }

    fn sequence_exists(&self, name: &str) -> String {
        format!("sequence \"{name}\" sudah ada")
    }

    fn sequence_created(&self, name: &str, cmd: &str) -> String {
        format!(
            "✅ Sequence *{name}* dibuat. Tambah langkah: {cmd} nurture-sequence add-step \"{name}\" --day 1 \"TEKS\""
        )
    }

    fn day_too_late(&self, max: u32) -> String {
        format!("--day paling banyak {max}")
    }

    fn step_text_missing(&self) -> String {
        "TEKS langkahnya belum diisi".into()
    }

    fn step_text_too_long(&self, max: usize) -> String {
        format!("teks satu langkah paling panjang {max} karakter")
    }

    fn too_many_steps(&self, max: usize) -> String {
        format!("satu sequence paling banyak {max} langkah")
    }

    fn step_added(&self, sequence: &str, step: usize, day: u32, steps: usize) -> String {
        format!("✅ *{sequence}*: langkah {step} di hari ke-{day} (sekarang {steps} langkah).")
    }

    fn not_on_sequence(&self, contact: &str, sequence: &str) -> String {
        format!("{contact} tidak sedang mengikuti \"{sequence}\"")
    }

    fn sequence_stopped(&self, sequence: &str, contact: &str) -> String {
        format!("⏹️ *{sequence}* dihentikan untuk {contact}.")
    }

    fn already_on_sequence(&self, contact: &str, sequence: &str) -> String {
        format!("{contact} sudah mengikuti \"{sequence}\"")
    }

    fn sequence_has_no_steps(&self, sequence: &str) -> String {
        format!("\"{sequence}\" belum punya langkah")
    }

    fn not_opted_in(&self, contact: &str, cmd: &str, key: &str) -> String {
        format!(
            "{contact} belum setuju dikirimi pesan WhatsApp (atau sudah membalas STOP); atur dengan: \
             {cmd} contacts set {key} whatsapp_opt_in yes"
        )
    }

    fn sequence_started(&self, sequence: &str, contact: &str, steps: usize, first_at: &str) -> String {
        format!("▶️ *{sequence}* dimulai untuk {contact}: {steps} langkah, yang pertama {first_at}.")
    }

    // ------------------------------------------------------------ CRM platforms

    fn unknown_platform(&self, typed: &str, platforms: &str) -> String {
        format!("platform `{typed}` tidak dikenal; pilih salah satu: {platforms}")
    }

    fn platform_chosen(&self, title: &str, next: &str) -> String {
        format!("🔌 {title} dipilih sebagai CRM Anda.\n*Langkah berikutnya:* {next}")
    }

    fn connect_next_oauth(&self, cmd: &str, platform: &str) -> String {
        format!("{cmd} auth --platform {platform} --oauth")
    }

    fn connect_next_key_or_oauth(&self, cmd: &str, platform: &str, hint: &str) -> String {
        format!(
            "{cmd} auth --platform {platform} --api-key KEY_ANDA\n({hint})\natau {cmd} auth --platform {platform} --oauth"
        )
    }

    fn connect_next_key(&self, cmd: &str, platform: &str, hint: &str) -> String {
        format!("{cmd} auth --platform {platform} --api-key KEY_ANDA\n({hint})")
    }

    fn connect_next_secret(&self, cmd: &str, platform: &str, hint: &str) -> String {
        format!("{cmd} auth --platform {platform} --api-key CLIENT_SECRET\n({hint})")
    }

    fn auth_both(&self) -> String {
        "pilih salah satu: --api-key atau --oauth, jangan keduanya".into()
    }

    fn auth_neither(&self) -> String {
        "--api-key KEY atau --oauth belum diisi".into()
    }

    fn platform_uses_oauth(&self, title: &str, cmd: &str, platform: &str) -> String {
        format!("{title} memakai OAuth: {cmd} auth --platform {platform} --oauth")
    }

    fn not_an_api_key(&self) -> String {
        "itu sepertinya bukan API key (8–512 karakter, tanpa spasi)".into()
    }

    fn api_key_stored(&self, title: &str, cmd: &str, platform: &str) -> String {
        format!(
            "🔐 API key {title} sudah disimpan terenkripsi dan tidak akan ditampilkan lagi.\n\
             Tips: hapus pesan berisi key tadi dari chat ini.\n*Berikutnya:* {cmd} sync {platform}"
        )
    }

    fn platform_has_no_oauth(&self, title: &str) -> String {
        format!("{title} tidak memakai OAuth; pakai --api-key")
    }

    fn oauth_client_missing(&self, platform: &str) -> String {
        format!("isi [crm.{platform}] client_id di config.toml untuk memakai OAuth")
    }

    fn public_url_missing(&self) -> String {
        "isi [crm] public_url di config.toml untuk memakai OAuth".into()
    }

    fn authorize_link(&self, title: &str, url: &str) -> String {
        format!(
            "🔗 Izinkan juru di {title} (link berlaku 15 menit):\n{url}\n\n\
             Saya konfirmasi di sini setelah {title} mengarahkan Anda kembali."
        )
    }

    fn no_platform_connected(&self, cmd: &str) -> String {
        format!("belum ada platform CRM yang terhubung: {cmd} connect hubspot")
    }

    fn credential_api_key(&self) -> String {
        "kredensial: API key tersimpan".into()
    }

    fn credential_oauth_pending(&self) -> String {
        "kredensial: OAuth belum selesai".into()
    }

    fn credential_oauth(&self) -> String {
        "kredensial: token OAuth tersimpan".into()
    }

    fn credential_none(&self, cmd: &str, platform: &str) -> String {
        format!("kredensial: belum ada ({cmd} auth --platform {platform} …)")
    }

    fn previous_sync_request(&self, at: &str) -> String {
        format!("Permintaan sebelumnya: {at}")
    }

    fn sync_requested(&self, s: &SyncSummary<'_>) -> String {
        format!(
            "🔄 Sinkronisasi {} diminta ({}): {} kontak, {} deal, {} aktivitas di CRM.\n\
             antre {} · terkirim {} · gagal {} · mati {}",
            s.platform,
            if s.full { "penuh" } else { "perubahan saja" },
            s.contacts,
            s.deals,
            s.activities,
            s.queued,
            s.sent,
            s.failed,
            s.dead
        )
    }

    fn last_push(&self, at: &str) -> String {
        format!("kirim terakhir: {at}")
    }

    fn last_error(&self, at: &str, error: &str) -> String {
        format!("error terakhir{at}: {error}")
    }

    fn connector_not_running(&self, title: &str) -> String {
        format!("⚠️ Konektor {title} belum berjalan: mulai setelah kredensial disimpan.")
    }

    fn field_mappings_heading(&self) -> &'static str {
        "*Pemetaan field*"
    }

    fn field_mappings_none(&self) -> &'static str {
        "Belum ada: bawaan konektor yang dipakai."
    }

    fn field_mapping_hint(&self, cmd: &str) -> String {
        format!("Atur dengan: {cmd} field-mapping configure set LOCAL_FIELD PLATFORM.FIELD")
    }

    fn unknown_local_field(&self, typed: &str, known: &str) -> String {
        format!("field lokal `{typed}` tidak dikenal; pilihan: {known}")
    }

    fn not_platform_field(&self, typed: &str) -> String {
        format!("`{typed}` bukan PLATFORM.FIELD")
    }

    fn invalid_remote_field(&self, field: &str, title: &str) -> String {
        format!("`{field}` bukan nama field {title} yang valid")
    }

    // ------------------------------------------------------------ WhatsApp labels

    fn no_labels_known_create(&self) -> String {
        "belum ada label WhatsApp yang dikenal; buat dulu di WhatsApp Business".into()
    }

    fn no_label(&self, wanted: &str, labels: &str) -> String {
        format!("label \"{wanted}\" tidak ada; label yang ada: {labels}")
    }

    fn labels_personal_only(&self) -> String {
        "label hanya dicatat untuk chat pribadi".into()
    }

    fn label_already(&self, key: &str, label: &str) -> String {
        format!("{key} sudah punya label \"{label}\".")
    }

    fn label_not_had(&self, key: &str, label: &str) -> String {
        format!("{key} tidak punya label \"{label}\".")
    }

    fn label_added(&self, label: &str, key: &str) -> String {
        format!("🏷️ \"{label}\" dipasang ke {key}, tercatat atas nama Anda.")
    }

    fn label_removed(&self, label: &str, key: &str) -> String {
        format!("🏷️ \"{label}\" dilepas dari {key}, tercatat atas nama Anda.")
    }

    fn applied_by_staff(&self, id: &str) -> String {
        format!("oleh {id}")
    }

    fn applied_on_phone(&self, number: Option<&str>) -> String {
        format!("dari HP ({})", number.unwrap_or("akun ini"))
    }

    fn no_labels_of(&self, key: &str) -> String {
        format!("{key} belum punya label.")
    }

    fn labels_of_heading(&self, key: &str) -> String {
        format!("*Label {key}*")
    }

    fn no_labels_known(&self) -> String {
        "Belum ada label WhatsApp yang dikenal.".into()
    }

    fn labels_heading(&self) -> &'static str {
        "*Label*"
    }

    fn label_count(&self, label: &str, contacts: usize) -> String {
        format!("*{label}*: {contacts} kontak")
    }

    fn no_packages(&self) -> String {
        "Belum ada paket di prompts/packages.toml.".into()
    }

    fn packages_heading(&self) -> &'static str {
        "*Paket & kursi*"
    }

    fn package_seats(&self, p: &OnSale, s: &Standing) -> String {
        let admin = if s.set_by_admin { ", kuota diatur admin" } else { "" };
        let state = match (p.departed, s.left) {
            (true, _) => " — sudah berangkat",
            (false, 0) => " — PENUH",
            _ => "",
        };
        format!(
            "• *{}* {} ({}): sisa {} kursi; ditahan {}, terjual {}{admin}{state}",
            p.code, p.name, p.departure, s.left, s.held, s.taken
        )
    }

    fn not_a_seat_count(&self, typed: &str) -> String {
        format!("\"{typed}\" bukan jumlah kursi (0 atau lebih)")
    }

    fn no_package(&self, code: &str, known: &str) -> String {
        format!("paket {code} tidak ada; paket: {known}")
    }

    fn quota_set(&self, code: &str, n: u32, held: u32, taken: u32) -> String {
        let full = if n == 0 { " Bot menawarkan paket lain." } else { "" };
        format!("✅ *{code}*: sisa {n} kursi mulai sekarang (ditahan {held}, terjual {taken}).{full}")
    }

    // ------------------------------------------------------------ segment filter mistakes

    fn filter_problem(&self, problem: &crate::crm::filter::FilterProblem) -> String {
        use crate::crm::filter::{FieldHint, FieldKind, FilterProblem as P, Found};
        let kind_name = |kind: &FieldKind| match kind {
            FieldKind::Number => "kolom angka",
            FieldKind::Text => "kolom teks",
            FieldKind::TextList => "kolom daftar",
            FieldKind::Bool => "kolom yes/no",
        };
        let shown = |found: &Found| match found.text() {
            None => "akhir filter".to_owned(),
            Some(text) => format!("\"{text}\""),
        };
        // ", tapi tertulis X", or nothing when the filter simply ended.
        let but = |found: &Found| match found.text() {
            None => String::new(),
            Some(text) => format!(", tapi tertulis \"{text}\""),
        };
        let use_ops = |kind: &FieldKind| kind.operators("atau");
        match problem {
            P::TooLong { chars, max } => format!("filternya terlalu panjang ({chars} karakter); maksimal {max}"),
            P::Empty => "filternya masih kosong".into(),
            P::Unmatched { bracket } => {
                format!("kurung \"{}\" tidak punya pasangan \"{}\"", bracket.close(), bracket.open())
            }
            P::ExpectedJoinOrEnd { found } => {
                format!("di sini harusnya \"and\", \"or\" atau filter selesai, tapi tertulis {}", shown(found))
            }
            P::UnexpectedBang => {
                "tanda \"!\" tidak bisa berdiri sendiri; tulis != untuk \"bukan\", atau not di depan kondisi".into()
            }
            P::UnexpectedAmpersand => {
                "tanda \"&\" tidak dikenal; pakai and untuk menggabung kondisi, atau beri tanda kutip kalau & bagian dari teks".into()
            }
            P::UnexpectedPipe => {
                "tanda \"|\" tidak dikenal; pakai or untuk menggabung kondisi, atau beri tanda kutip kalau | bagian dari teks".into()
            }
            P::UnclosedQuote { close } => format!("tanda kutip ini belum ditutup; tambahkan {close} setelah teksnya"),
            P::UnexpectedChar { found } => {
                format!("karakter \"{found}\" tidak dikenal; teks dengan karakter khusus ditulis dalam tanda kutip")
            }
            P::TooDeep { max } => {
                format!("filternya bertingkat terlalu dalam; maksimal {max} tingkat kurung dan not")
            }
            P::Unclosed { bracket } => format!("kurung \"{}\" ini belum ditutup", bracket.open()),
            P::ExpectedJoinOrClose { found } => {
                format!("di sini harusnya \"and\", \"or\" atau \")\", tapi tertulis {}", shown(found))
            }
            P::ExpectedCondition { after } => format!("setelah \"{after}\" harus ada kondisi"),
            P::ExpectedField { found } => format!("di sini harusnya nama kolom, tapi tertulis {}", shown(found)),
            P::UnknownField { typed, hint } => {
                let hint = match hint {
                    FieldHint::DidYouMean(name) => format!("maksudnya \"{name}\"?"),
                    FieldHint::NoFields => "belum ada kolom yang bisa dipakai di filter".to_owned(),
                    FieldHint::Known(names) => format!("kolom yang ada: {}", names.join(", ")),
                };
                format!("kolom \"{typed}\" tidak ada; {hint}")
            }
            P::OperatorNotAllowed { operator, field, kind } => format!(
                "\"{operator}\" tidak bisa dipakai untuk {field} ({}); pakai {}",
                kind_name(kind),
                use_ops(kind)
            ),
            P::ExpectedInAfterNot { found } => format!("setelah \"not\" harus ada \"in\"{}", but(found)),
            P::NotInNotAllowed { field, kind } => format!(
                "\"not in\" tidak bisa dipakai untuk {field} ({}); pakai {}",
                kind_name(kind),
                use_ops(kind)
            ),
            P::InNotAllowed { field, kind } => {
                format!("\"in\" tidak bisa dipakai untuk {field} ({}); pakai {}", kind_name(kind), use_ops(kind))
            }
            P::ExpectedOperator { field, kind, found } => {
                format!("setelah {field} harus ada {}{}", use_ops(kind), but(found))
            }
            P::ExpectedList { found } => {
                format!("setelah \"in\" harus ada daftar, contoh [Hot, \"Grade A\"]{}", but(found))
            }
            P::EmptyList => "daftarnya kosong; isi minimal satu nilai di antara kurungnya".into(),
            P::ExpectedSeparator { bracket, found } => {
                format!("di sini harusnya \",\" atau \"{}\"{}", bracket.close(), but(found))
            }
            P::KeywordAsValue { after, keyword } => format!(
                "setelah \"{after}\" harus ada nilai, tapi tertulis \"{keyword}\" (beri tanda kutip kalau itu memang teksnya)"
            ),
            P::ExpectedValue { after, found } => format!("setelah \"{after}\" harus ada nilai{}", but(found)),
            P::NeedsNumber { field, found } => format!("{field} harus diisi angka, tapi tertulis {}", shown(found)),
            P::NeedsYesNo { field, found } => {
                format!("{field} harus diisi yes atau no, tapi tertulis {}", shown(found))
            }
        }
    }
}
