// The admin dashboard in a real browser (Debian's Chromium driven by
// playwright-core), against a running juru seeded by tests/browser.rs:
//
//   node dashboard.mjs BASE_URL ADMIN_TOKEN ASKING_PHONE HANDED_OVER_PHONE
//
// ASKING_PHONE asked about a package (the bot is answering it);
// HANDED_OVER_PHONE asked for a human. Exits 0 when every step passed, 1 with
// the failing step otherwise. Screenshots go to $CARGO_TARGET_TMPDIR (or /tmp).
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const [base, token, asking, handedOver] = process.argv.slice(2);
if (!base || !token || !asking || !handedOver) {
  console.error('usage: node dashboard.mjs BASE_URL ADMIN_TOKEN ASKING_PHONE HANDED_OVER_PHONE');
  process.exit(2);
}
const origin = new URL(base).origin;
const shots = process.env.CARGO_TARGET_TMPDIR || tmpdir();
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ASKED = 'Assalamualaikum, info paket umroh';
const WAIT = 15_000;

// Everything the browser did that the page must never do.
const problems = [];
let current = 'start';
// Console errors the current step provokes on purpose.
let allowed = null;

async function step(name, fn, { allow = null } = {}) {
  current = name;
  allowed = allow;
  const started = Date.now();
  await fn();
  console.log(`ok   ${name} (${Date.now() - started} ms)`);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** Polls `probe` until it returns a truthy value; fails with `message()` after `ms`. */
async function until(probe, message, ms = WAIT) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(typeof message === 'function' ? await message() : message);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// launch() gives Chromium a fresh temporary profile and deletes it on close.
// The flags keep it off the network: no updates, no sync, no QUIC probes.
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
  ],
}).catch((err) => {
  console.error(`FAIL starting ${CHROMIUM} (apt-get install -y chromium): ${err.message}`);
  process.exit(1);
});
let page;
let exitCode = 0;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  // The page loads nothing from elsewhere: any other origin is refused and reported.
  await context.route((url) => url.origin !== origin, (route) => {
    problems.push(`request to another host: ${route.request().url()}`);
    return route.abort();
  });
  page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on('console', (msg) => {
    if (msg.type() !== 'error' || allowed?.test(msg.text())) return;
    problems.push(`console error (${current}): ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`uncaught exception (${current}): ${err.message}`));
  page.on('requestfailed', (req) => {
    // Leaving the page cancels its polls: that is not a failure of the page.
    const error = req.failure()?.errorText || '';
    if (!error.includes('ERR_ABORTED')) problems.push(`request failed (${current}): ${req.url()} ${error}`);
  });

  const apiJson = async (p) => {
    const res = await context.request.get(`${origin}${p}`);
    check(res.ok(), `GET ${p}: ${res.status()} ${await res.text()}`);
    return res.json();
  };

  await step('the API refuses a browser without the admin cookie', async () => {
    const res = await context.request.get(`${origin}/api/marketing/dashboard`);
    check(res.status() === 401, `GET /api/marketing/dashboard without a cookie: ${res.status()}, wanted 401`);
  });

  await step('/dashboard shows the login form', async () => {
    await page.goto(`${origin}/dashboard`);
    await page.locator('#token').waitFor();
    check(await page.locator('#login').isVisible(), 'no #login button');
    check(await page.locator('#funnel').count() === 0, 'the dashboard showed without a token');
  });

  await step('a wrong token says so', async () => {
    await page.fill('#token', 'not-the-token');
    await Promise.all([page.waitForURL(/error=1/), page.click('#login')]);
    await page.getByText('Wrong token').waitFor();
    await page.locator('#token').waitFor();
  });

  await step('the right token opens the dashboard', async () => {
    await page.fill('#token', token);
    await Promise.all([page.waitForURL(`${origin}/dashboard`), page.click('#login')]);
    await page.locator('#funnel [data-phase="leads"] .count').waitFor();
    await page.locator('#refreshed').filter({ hasNotText: 'never' }).waitFor();
  });

  await step('the funnel shows the counts of GET /api/marketing/dashboard', async () => {
    // The page polls: compare again until both agree (the bot may still be moving a chat).
    await until(async () => {
      const d = await apiJson('/api/marketing/dashboard');
      for (const phase of ['leads', 'interest', 'booking']) {
        const shown = await page.locator(`#funnel [data-phase="${phase}"] .count`).textContent();
        if (shown !== String(d.phase_distribution[phase] ?? 0)) return false;
      }
      const figure = (name) => page.locator(`#funnel [data-figure="${name}"] .value`).textContent();
      return await figure('active') === String(d.active_conversations)
        && await figure('escalated') === String(d.escalated_conversations);
    }, async () => {
      const api = JSON.stringify(await apiJson('/api/marketing/dashboard'));
      return `the funnel shows\n${await page.locator('#funnel').innerText()}\nbut the API says ${api}`;
    });
  });

  await step('the prospect who asked for a human waits in pending handovers', async () => {
    const row = page.locator(`#handovers .row[data-id="${handedOver}"]`);
    await row.waitFor();
    const text = await row.textContent();
    check(text.includes(handedOver), `row without the phone: ${text}`);
    check(text.includes('Saya mau bicara dengan admin'), `row without the last message: ${text}`);
  });

  await step('taking over a conversation moves it to pending handovers', async () => {
    await page.click(`#conversations .row[data-id="${asking}"] [data-action="takeover"]`);
    await page.locator(`#handovers .row[data-id="${asking}"]`).waitFor();
    await page.locator(`#conversations .row[data-id="${asking}"] [data-action="release"]`).waitFor();
  });

  await step('releasing it gives it back to the bot', async () => {
    await page.click(`#handovers .row[data-id="${asking}"] [data-action="release"]`);
    await page.locator(`#handovers .row[data-id="${asking}"]`).waitFor({ state: 'detached' });
    await page.locator(`#conversations .row[data-id="${asking}"] [data-action="takeover"]`).waitFor();
    check(await page.locator(`#handovers .row[data-id="${handedOver}"]`).count() === 1, 'the other handover went too');
  });

  await step('a transcript shows what the prospect wrote and what the bot answered', async () => {
    await page.click(`#conversations .row[data-id="${asking}"] [data-action="open"]`);
    const transcript = page.locator('#transcript');
    await transcript.locator('.msg.in', { hasText: ASKED }).waitFor();
    await transcript.locator('.msg.out').first().waitFor();
  });

  await step('labels, campaigns and bot figures are drawn', async () => {
    for (const id of ['labels', 'campaigns', 'ai']) {
      await until(async () => !(await page.locator(`#${id} .body`).textContent()).includes('Loading'),
        `#${id} never loaded`);
      const error = page.locator(`#${id} > .error`);
      if (await error.count()) throw new Error(`#${id}: ${await error.textContent()}`);
    }
  });

  await step('the playground answers and says how the bot decided', async () => {
    await page.fill('#playground-input', ASKED);
    await page.click('#playground-send');
    const reply = page.locator('#playground-log .bot-reply').first();
    await reply.waitFor({ timeout: 30_000 });
    check((await reply.textContent()).trim().length > 0, 'an empty bot reply');
    const meta = await page.locator('#playground-log .turn-meta').first().textContent();
    check(meta.includes('phase') && meta.includes('prompts'), `turn line: ${meta}`);
    const { conversations } = await apiJson('/api/conversations?limit=50');
    check(!conversations.some((c) => c.id.startsWith('playground')), 'the playground chat is listed among real ones');
  });

  await step('screenshots (desktop, phone)', async () => {
    await page.screenshot({ path: path.join(shots, 'juru-dashboard.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    // Let the narrower layout settle before capturing it.
    await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
    await page.screenshot({ path: path.join(shots, 'juru-dashboard-phone.png'), fullPage: true });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 0, `the page is ${overflow} px wider than a phone`);
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await step('resetting the playground starts afresh', async () => {
    await page.click('#playground-reset');
    await until(async () => (await page.locator('#playground-log .bot-reply').count()) === 0, 'the log was kept');
  });

  await step('a refused API call (the cookie is gone) brings back the login form', async () => {
    await context.clearCookies();
    await page.locator('#token').waitFor({ timeout: 10_000 });
    await page.fill('#token', token);
    await Promise.all([page.waitForURL(`${origin}/dashboard`), page.click('#login')]);
    await page.locator('#funnel [data-phase="leads"] .count').waitFor();
  }, { allow: /status of 401/ });

  await step('logging out returns to the login form', async () => {
    await Promise.all([page.waitForURL(`${origin}/dashboard`), page.click('#logout')]);
    await page.locator('#token').waitFor();
    const res = await context.request.get(`${origin}/api/marketing/dashboard`);
    check(res.status() === 401, `the API still answers after logout: ${res.status()}`);
  });

  check(problems.length === 0, `the page misbehaved:\n  ${problems.join('\n  ')}`);
  console.log(`ok   dashboard in Chromium ${browser.version()}; screenshots in ${shots}`);
} catch (err) {
  exitCode = 1;
  console.error(`FAIL ${current}: ${err.message}`);
  if (problems.length) console.error(`also:\n  ${problems.join('\n  ')}`);
  if (page) {
    const shot = path.join(shots, 'juru-dashboard-failure.png');
    await page.screenshot({ path: shot, fullPage: true }).then(() => console.error(`screenshot: ${shot}`), () => {});
  }
} finally {
  await browser.close().catch(() => {});
}
process.exit(exitCode);
