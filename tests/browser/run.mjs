#!/usr/bin/env node
// Real-browser test of the parley web UI.
//
// Starts `parley serve` on a free port with a fresh database, then drives Debian's
// Chromium (through playwright-core, no browser download) through the whole flow:
// lobby → create a job-offer session (saop, 40 rounds, candidate = person seat,
// employer = built-in conceder) → open the invitation link → join → play the
// candidate's seat through the UI to an agreement → owner view with the trace and the
// closing analysis. The flow runs twice: on a laptop viewport and on a phone (390×844),
// where no page may scroll horizontally.
//
//   PARLEY_BIN   the parley binary (default ../../target/release/parley from here)
//   CHROMIUM     the browser (default /usr/bin/chromium)
//   KEEP_GOING=1 keep the server running after the test (prints its URL), for a look
//
// Exit status 0 when every check passes; 1 with a message naming the failed check.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.resolve(here, process.env.PARLEY_BIN || '../../target/release/parley');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ROUNDS = 40;
// The creator token the server is started with (PARLEY_CREATE_TOKEN).
const CREATOR = 'browser-test-creator-token-0123456789';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-browser-'));
// Screenshots go to $SCREENSHOTS when set (docs/ui.md shows a set of them), else to the
// temporary directory.
const shotDir = process.env.SCREENSHOTS ? path.resolve(process.env.SCREENSHOTS) : path.join(tmp, 'screenshots');
fs.mkdirSync(shotDir, { recursive: true });
const screenshots = [];
// axe-core (from npm) on every screen the test shows: serious or critical findings.
const axeSource = fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'node_modules/axe-core/axe.min.js'), 'utf8');
const axeFindings = [];
const pageErrors = [];
let server = null;
let serverLog = path.join(tmp, 'server.log');
let context = null;

// ---------------------------------------------------------------------------

class CheckFailed extends Error {}

function check(cond, msg) {
  if (!cond) throw new CheckFailed(msg);
}

function step(msg) {
  console.log(`  · ${msg}`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitHealthy(base, ms) {
  const until = Date.now() + ms;
  let last = '';
  while (Date.now() < until) {
    if (server.exitCode !== null) throw new CheckFailed(`parley serve exited with status ${server.exitCode} before answering /healthz (log: ${serverLog})`);
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) return;
      last = `status ${res.status}`;
    } catch (e) {
      last = e.message;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new CheckFailed(`GET /healthz did not answer within ${ms / 1000} s (${last}); log: ${serverLog}`);
}

async function shot(page, name, fullPage = true) {
  const file = path.join(shotDir, `${String(screenshots.length + 1).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage });
  screenshots.push(file);
  if (!name.startsWith('failure')) await axeCheck(page, name);
  return file;
}

/** Runs axe-core on the page as it is and keeps its serious and critical findings. */
async function axeCheck(page, where) {
  // Evaluated through the DevTools protocol: the page's CSP (script-src 'self') stays on.
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  });
  for (const v of violations) axeFindings.push(`${where}: ${v}`);
}

async function noHorizontalScroll(page, where) {
  const { sw, iw } = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, iw: window.innerWidth }));
  check(sw <= iw, `${where}: the page scrolls horizontally (scrollWidth ${sw} > viewport ${iw})`);
}

/** Every visible form control has a label (or an aria-label). */
async function controlsLabelled(page, where) {
  const missing = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((el) => el.type !== 'hidden' && el.offsetParent !== null)
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
    .map((el) => el.outerHTML.slice(0, 80)));
  check(missing.length === 0, `${where}: form controls without a label: ${missing.join(' | ')}`);
  const unnamed = await page.evaluate(() => [...document.querySelectorAll('button')]
    .filter((el) => el.offsetParent !== null && !el.textContent.trim() && !el.getAttribute('aria-label'))
    .map((el) => el.outerHTML.slice(0, 80)));
  check(unnamed.length === 0, `${where}: buttons without a name: ${unnamed.join(' | ')}`);
}

function watchPage(page, label) {
  page.on('pageerror', (e) => pageErrors.push(`${label}: ${e.message}`));
  page.on('console', (m) => {
    // A page that breaks the Content-Security-Policy fails the test.
    if (/Content Security Policy/i.test(m.text())) pageErrors.push(`${label}: ${m.text()}`);
    if (m.type() === 'error') console.log(`    [${label} console] ${m.text()}`);
  });
}

const U = /^\d\.\d{3}$/;

async function text(page, testid) {
  return (await page.locator(`[data-testid="${testid}"]`).first().textContent() || '').trim();
}

// ---------------------------------------------------------------------------
// the candidate's strategy: concede over the rounds, through the selects

function myOffer(round) {
  const f = round / ROUNDS;
  return {
    salary: String(Math.max(95, 100 - Math.floor(f * 20))),
    'start date': f < 0.15 ? 'in 2 months' : 'in 1 month',
    'remote days': f < 0.1 ? 'fully remote' : f < 0.2 ? '3 days a week' : '2 days a week',
    'signing bonus': f < 0.15 ? '15k' : '10k',
    title: f < 0.25 ? 'Staff Engineer' : 'Senior Engineer',
  };
}

function acceptThreshold(round) {
  return Math.max(0.55, 0.85 - 0.6 * (round / ROUNDS));
}

// ---------------------------------------------------------------------------

async function flow(base, label, viewport) {
  const phone = viewport.width <= 400;
  console.log(`\n[${label}] ${viewport.width}×${viewport.height}`);

  // -- lobby ------------------------------------------------------------------
  const lobby = await context.newPage();
  watchPage(lobby, `${label} lobby`);
  await lobby.setViewportSize(viewport);
  // The desktop flow opens the address parley serve prints (with the creator token);
  // the phone flow opens the bare lobby and types the token in.
  await lobby.goto(phone ? `${base}/` : `${base}/#create=${CREATOR}`);
  await lobby.locator('[data-testid="scenario"] option[value="job-offer"]').waitFor({ state: 'attached' });
  check(!lobby.url().includes('create='), 'lobby: the creator token must be removed from the address bar');
  const tokenField = lobby.locator('[data-testid="creator-token"]');
  if (phone) {
    check(await tokenField.isVisible(), 'lobby: without the token in the address, the lobby must ask for it');
    await tokenField.fill(CREATOR);
  } else {
    check(!(await tokenField.isVisible()), 'lobby: with the token in the address, the lobby must not ask for it');
  }
  step('lobby lists the bundled scenarios');
  await lobby.selectOption('[data-testid="scenario"]', 'job-offer');
  await lobby.selectOption('[data-testid="protocol"]', 'saop');
  await lobby.fill('[data-testid="rounds"]', String(ROUNDS));
  check(await lobby.locator('[data-testid="role-mediator"]').count() === 0, 'lobby: saop must not offer a mediator role');
  await lobby.selectOption('[data-testid="protocol"]', 'staged');
  check(await lobby.locator('[data-testid="role-mediator"]').isVisible(), 'lobby: staged talks must offer a mediator role');
  check(await lobby.locator('[data-testid="staged-options"]').isVisible(), 'lobby: staged options must show for staged talks');
  await lobby.selectOption('[data-testid="protocol"]', 'saop');
  check(await lobby.locator('[data-testid="role-mediator"]').count() === 0, 'lobby: switching back to saop must remove the mediator role');
  await lobby.selectOption('[data-testid="role-candidate"]', 'seat:person');
  await lobby.selectOption('[data-testid="role-employer"]', 'agent:conceder');
  // The owner of this session sees everything: the full log and the closing analysis.
  await lobby.selectOption('[data-testid="owner-sees"]', 'all');
  check(await lobby.locator('[data-testid="mandate-candidate"]').isVisible(), 'lobby: a seat must offer a mandate field');
  check(!(await lobby.locator('[data-testid="mandate-employer"]').isVisible()), 'lobby: a built-in negotiator must not offer a mandate field');
  await controlsLabelled(lobby, 'lobby');
  if (phone) await noHorizontalScroll(lobby, 'lobby (phone)');
  // A full-page screenshot resizes the page for a moment; afterwards Chromium scrolls
  // the field that still has focus back into view when it loses it, in the middle of
  // the click on the button below (mouse down on the button, up elsewhere). Nothing
  // is being typed now, so leave the field first.
  await lobby.evaluate(() => document.activeElement && document.activeElement.blur());
  await shot(lobby, `${label}-lobby`);
  await lobby.click('[data-testid="create-session"]');
  const invite = lobby.locator('[data-testid="invite-link-candidate"]');
  await invite.waitFor({ state: 'visible' }).catch(async (e) => {
    const shown = await lobby.evaluate(() => [...document.querySelectorAll('[data-testid="lobby-error"]')].map((el) => el.textContent).join(' | '));
    throw new CheckFailed(`lobby: the session was not created (${e.message.split('\n')[0]}); the lobby shows: "${shown}"`);
  });
  const inviteUrl = await invite.inputValue();
  const ownerUrl = await lobby.locator('[data-testid="owner-link"]').inputValue();
  check(inviteUrl.startsWith(`${base}/room/`) && /#token=[A-Za-z0-9_-]{20,}$/.test(inviteUrl), `lobby: the invitation link is not an absolute room link with a token: ${inviteUrl}`);
  check(ownerUrl.startsWith(`${base}/owner/`) && ownerUrl.includes('#token='), `lobby: the owner link is not an absolute owner link with a token: ${ownerUrl}`);
  check(await lobby.locator('[data-testid="invite-link-employer"]').count() === 0, 'lobby: a built-in negotiator must not get an invitation link');
  check(/secret/i.test(await lobby.locator('[data-testid="session-created"]').textContent()), 'lobby: the links must be explained as secrets');
  step(`session created; invitation ${inviteUrl.replace(/#token=.*/, '#token=…')}`);
  if (phone) await noHorizontalScroll(lobby, 'lobby links (phone)');
  await shot(lobby, `${label}-links`);

  // -- the candidate's room ------------------------------------------------------
  const room = await context.newPage();
  watchPage(room, `${label} room`);
  await room.setViewportSize(viewport);
  await room.goto(inviteUrl);
  await room.locator('[data-testid="status"][data-status="waiting"]').waitFor();
  check(!room.url().includes('token='), `room: the token must be removed from the address bar, got ${room.url()}`);
  check(await text(room, 'round') === `${ROUNDS} rounds`, `room: before the start the deadline should read "${ROUNDS} rounds", got "${await text(room, 'round')}"`);
  check(await room.locator('[data-testid="join"]').isVisible(), 'room: a Join button while waiting');
  check(await room.locator('[data-testid="confide"]').count() === 0, 'room: no confide checkbox without a mediator');
  if (phone) await noHorizontalScroll(room, 'room, waiting (phone)');
  await shot(room, `${label}-room-waiting`);
  await room.click('[data-testid="join"]');
  await room.locator('[data-testid="status"][data-status="running"]').waitFor();
  await room.waitForFunction(() => document.getElementById('main').dataset.pendingKind === 'act');
  step('joined; the talks run and it is my turn');
  check(/another offer in hand/.test(await text(room, 'briefing')), 'room: the candidate\'s private briefing should be shown');
  // messages: one to everyone appears in my own history
  await room.locator('[data-testid="message-to"]').selectOption('all');
  await room.fill('[data-testid="message-text"]', 'Happy to find a package that works for both of us.');
  await room.click('[data-testid="message-send"]');
  await room.locator('[data-testid="history-item"][data-type="message"]').first().waitFor();
  check(/You wrote to everyone/.test(await room.locator('[data-testid="history-item"][data-type="message"]').first().textContent()), 'room: my message should be in my history');
  step('a message to everyone appears in the history');
  check(await room.locator('[data-testid="join-panel"]').isHidden(), 'room: the Join panel must go once the talks run');
  check(/^Round 1 of 40$/.test(await text(room, 'round')), `room: expected "Round 1 of 40" at the start, got "${await text(room, 'round')}"`);
  check(/direct/i.test(await text(room, 'phase')), `room: saop is direct talks, the phase reads "${await text(room, 'phase')}"`);
  check(await room.locator('[data-testid="accept"]').count() === 0, 'room: no Accept button before any offer stands');
  check(await room.locator('[data-testid="walk-away"]').isVisible(), 'room: a Walk away button on my turn');

  // the draft utility follows the selects
  const draft = room.locator('[data-testid="draft-utility"]');
  const salary = room.locator('[data-testid="offer-builder"] select[data-issue="salary"]');
  await room.waitForFunction(() => document.querySelector('[data-testid="draft-utility"]').dataset.state === 'ok');
  const u0 = (await draft.textContent()).trim();
  check(U.test(u0), `room: the draft utility should be a number, got "${u0}"`);
  const s0 = await salary.inputValue();
  await salary.selectOption(s0 === '100' ? '90' : '100');
  await room.waitForFunction((old) => {
    const el = document.querySelector('[data-testid="draft-utility"]');
    return el.dataset.state === 'ok' && el.textContent.trim() !== old;
  }, u0);
  const u1 = (await draft.textContent()).trim();
  check(U.test(u1) && u1 !== u0, `room: the draft utility should change with the salary (${u0} → ${u1})`);
  step(`draft utility follows the selects (${u0} → ${u1})`);

  // safe actions: a draft worth less than walking away asks once more, and sends nothing
  const selects = room.locator('[data-testid="offer-builder"] select');
  const worst = [];
  for (let k = 0; k < await selects.count(); k += 1) {
    const sel = selects.nth(k);
    const first = await sel.locator('option').first().getAttribute('value');
    worst.push([sel, await sel.inputValue()]);
    await sel.selectOption(first);
  }
  await room.waitForFunction(() => document.querySelector('[data-testid="draft-utility"]').dataset.state === 'ok');
  const uLow = Number((await draft.textContent()).trim());
  check(uLow < 0.5, `room: the first value of every issue should be a poor draft for the candidate, got ${uLow}`);
  const seqLow = await room.evaluate(() => document.getElementById('main').dataset.lastSeq);
  await room.click('[data-testid="send-offer"]');
  const warning = room.locator('[data-testid="offer-builder"] [data-testid="confirm-warning"]').first();
  await warning.waitFor({ state: 'visible' });
  const warnText = (await warning.textContent()).trim();
  check(/walking away now would pay/.test(warnText), `room: the confirmation should say what walking away pays, says "${warnText}"`);
  check(/anyway/.test(await text(room, 'send-offer')), 'room: the send button should ask to confirm');
  await room.waitForTimeout(300);
  check(await room.evaluate(() => document.getElementById('main').dataset.lastSeq) === seqLow, 'room: nothing is sent before the confirmation');
  for (const [sel, value] of worst) await sel.selectOption(value);
  await room.waitForFunction(() => document.querySelector('[data-testid="draft-utility"]').dataset.state === 'ok');
  step(`a draft worth ${uLow} (below the reservation value) asks for confirmation and sends nothing`);
  await controlsLabelled(room, 'room');
  if (phone) await noHorizontalScroll(room, 'room, my turn (phone)');

  // play to the end
  let turns = 0;
  let accepted = null;
  let lastOfferU = null;
  for (;;) {
    await room.waitForFunction(() => {
      const m = document.getElementById('main');
      return m.dataset.status === 'ended' || m.dataset.pendingKind === 'act';
    }, null, { timeout: 20000 });
    if (await room.evaluate(() => document.getElementById('main').dataset.status) === 'ended') break;
    turns += 1;
    check(turns <= ROUNDS + 2, 'room: more turns than rounds: the talks should have ended');
    const roundText = await text(room, 'round');
    const m = /^Round (\d+) of (\d+)$/.exec(roundText);
    check(m && Number(m[2]) === ROUNDS, `room: round display "${roundText}" is not "Round X of ${ROUNDS}"`);
    const round = Number(m[1]) - 1;
    const histBefore = await room.locator('[data-testid="history-item"]').count();
    const seqBefore = await room.evaluate(() => document.getElementById('main').dataset.lastSeq);
    const standing = room.locator('[data-testid="standing-utility"]');
    if (await standing.count()) {
      const su = (await standing.textContent()).trim();
      check(U.test(su), `room: the standing offer's utility for me should be a number, got "${su}"`);
      if (Number(su) >= acceptThreshold(round)) {
        step(`round ${round + 1}: accept the standing offer worth ${su} to me`);
        accepted = su;
        await room.click('[data-testid="accept"]');
        await room.waitForFunction(() => document.getElementById('main').dataset.status === 'ended', null, { timeout: 20000 });
        break;
      }
    }
    const offer = myOffer(round);
    for (const [issue, value] of Object.entries(offer)) {
      await room.locator(`[data-testid="offer-builder"] select[data-issue="${issue}"]`).selectOption(value);
    }
    await room.waitForFunction(() => document.querySelector('[data-testid="draft-utility"]').dataset.state === 'ok');
    const du = (await draft.textContent()).trim();
    check(U.test(du), `room: the draft utility should be a number, got "${du}"`);
    lastOfferU = du;
    await room.click('[data-testid="send-offer"]');
    await room.waitForFunction((before) => {
      const mm = document.getElementById('main');
      return Number(mm.dataset.lastSeq) > Number(before) && (mm.dataset.status === 'ended' || mm.dataset.pendingKind === 'act');
    }, seqBefore, { timeout: 20000 });
    const histAfter = await room.locator('[data-testid="history-item"]').count();
    check(histAfter > histBefore, `room: the history should grow after my offer (${histBefore} → ${histAfter})`);
    const mine = room.locator('[data-testid="history-item"][data-type="offer"].mine').first();
    const mineU = (await mine.locator('[data-testid="history-utility"]').textContent()).trim();
    check(mineU === du, `room: my latest offer in the history should show my utility ${du}, shows ${mineU}`);
    if (turns === 1) step(`round ${round + 1}: offered (worth ${du} to me); the history shows it with my utility`);
    if (turns === 3) {
      const theirs = room.locator('[data-testid="history-item"][data-type="offer"]:not(.mine)').first();
      check(U.test((await theirs.locator('[data-testid="history-utility"]').textContent()).trim()), 'room: the other side\'s offers show my utility too');
      check(await room.locator('[data-testid="concession-chart"] circle').count() >= 4, 'room: the utility chart should plot the offers');
      if (phone) {
        await noHorizontalScroll(room, 'room, running (phone)');
        await room.evaluate(() => window.scrollTo(0, 0));
        await shot(room, `${label}-room-running-top`, false);
        await room.locator('[data-testid="offer-builder"]').scrollIntoViewIfNeeded();
        await shot(room, `${label}-room-running-draft`, false);
      }
      await shot(room, `${label}-room-running`);
    }
  }

  // the result
  const result = room.locator('[data-testid="result"]');
  await result.waitFor({ state: 'visible' });
  const resultText = (await result.textContent()) || '';
  check(await result.getAttribute('data-outcome') === 'agreement' && /agreement/i.test(resultText), `room: expected an agreement, the result reads: ${resultText.trim().slice(0, 200)}`);
  const ru = await text(room, 'result-utility');
  check(U.test(ru), `room: the result should show my utility, got "${ru}"`);
  if (accepted) check(ru === accepted, `room: I accepted an offer worth ${accepted}, the result says ${ru}`);
  else check(ru === lastOfferU, `room: the employer accepted my offer worth ${lastOfferU}, the result says ${ru}`);
  check(await text(room, 'status') === 'ended', 'room: status "ended" at the end');
  const endItem = room.locator('[data-testid="history-item"][data-type="end"]');
  check(await endItem.count() === 1, 'room: the history should end with the end of the talks');
  step(`agreement after ${turns} turn(s); utility for me ${ru}${accepted ? ' (I accepted)' : ' (they accepted my offer)'}`);
  check(await room.locator('[data-testid="offer-builder"]').isHidden(), 'room: the draft goes once the talks are over');
  if (phone) {
    await noHorizontalScroll(room, 'room, ended (phone)');
    await room.evaluate(() => window.scrollTo(0, 0));
    await shot(room, `${label}-room-ended-top`, false);
  }
  await shot(room, `${label}-room-ended`);

  // a reload keeps the token (sessionStorage) and shows the same result
  await room.reload();
  await room.locator('[data-testid="result"][data-outcome="agreement"]').waitFor();
  check(await text(room, 'result-utility') === ru, 'room: after a reload the result must be the same');
  step('reload: the room reopens from sessionStorage with the same result');

  // -- owner view ------------------------------------------------------------------
  const owner = await context.newPage();
  watchPage(owner, `${label} owner`);
  await owner.setViewportSize(viewport);
  await owner.goto(ownerUrl);
  await owner.locator('[data-testid="status"][data-status="ended"]').waitFor();
  check(!owner.url().includes('token='), 'owner: the token must be removed from the address bar');
  await owner.waitForFunction(() => document.querySelectorAll('[data-testid="trace-table"] tbody tr').length > 0, null, { timeout: 15000 });
  const traceRows = await owner.locator('[data-testid="trace-table"] tbody tr').count();
  const eventRows = await owner.locator('[data-testid="events-table"] tbody tr').count();
  check(eventRows >= 4, `owner: the events table should list the talks, has ${eventRows} rows`);
  check(traceRows >= eventRows, `owner: the audit log (${traceRows} records) should hold at least every event (${eventRows})`);
  check(/verified/i.test(await text(owner, 'chain-ok')), `owner: the hash chain should verify, reads "${await text(owner, 'chain-ok')}"`);
  const hashCell = (await owner.locator('[data-testid="trace-table"] tbody tr td.hash').first().getAttribute('title')) || '';
  check(/^[0-9a-f]{64}$/.test(hashCell), `owner: the audit log should show SHA-256 hashes, got "${hashCell}"`);
  const seatRow = owner.locator('[data-testid="seats-table"] tr[data-role="candidate"]');
  check(/yes/.test(await seatRow.textContent()), 'owner: the seats table should show that the candidate joined');
  check(/conceder/.test(await owner.locator('[data-testid="seats-table"] tr[data-role="employer"]').textContent()), 'owner: the seats table should name the employer\'s built-in negotiator');
  const analysis = owner.locator('[data-testid="analysis"]');
  await analysis.waitFor({ state: 'visible' });
  const plot = owner.locator('[data-testid="analysis"] svg[data-testid="plane-plot"]');
  check(await plot.count() === 1, 'owner: the closing analysis should have a utility-plane plot');
  const points = await plot.locator('circle').count();
  check(points >= 3, `owner: the plot should show the frontier points, has ${points} circles`);
  check(await plot.locator('[data-testid="agreement-point"]').count() === 1, 'owner: the plot should mark the agreement');
  check(await plot.locator('[data-testid="nash-point"]').count() === 1, 'owner: the plot should mark the Nash point');
  check(await plot.locator('[data-testid="reservation-line"]').count() === 2, 'owner: the plot should draw both reservation lines');
  const ownerResult = await owner.locator('[data-testid="result"]').getAttribute('data-outcome');
  check(ownerResult === 'agreement', `owner: the result should be an agreement, is ${ownerResult}`);
  step(`owner view: ${eventRows} events, ${traceRows} log records, chain verified, plot with ${points} points`);
  if (phone) await noHorizontalScroll(owner, 'owner view (phone)');
  await shot(owner, `${label}-owner`);

  // -- wrong token: a clear error, no crash ----------------------------------------
  if (!phone) {
    const bad = await context.newPage();
    watchPage(bad, `${label} bad token`);
    await bad.goto(inviteUrl.replace(/#token=.*/, '#token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'));
    await bad.locator('[data-testid="fatal"]').waitFor();
    check(/token/i.test(await text(bad, 'fatal')), 'bad token: the page should say the token was not accepted');
    step('a wrong token shows a clear error');
    await bad.close();
  }
  await lobby.close();
  await room.close();
  await owner.close();
}

// ---------------------------------------------------------------------------
// staged talks with a mediator seat and a delegate whose principal must confirm

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function mediated(base) {
  const viewport = { width: 1366, height: 800 };
  console.log('\n[mediated] staged talks: candidate = delegate seat (mandate 0.95), employer = conceder, mediator = person seat');
  const lobby = await context.newPage();
  watchPage(lobby, 'mediated lobby');
  await lobby.setViewportSize(viewport);
  await lobby.goto(`${base}/#create=${CREATOR}`);
  await lobby.locator('[data-testid="scenario"] option[value="job-offer"]').waitFor({ state: 'attached' });
  await lobby.selectOption('[data-testid="scenario"]', 'job-offer');
  await lobby.selectOption('[data-testid="protocol"]', 'staged');
  await lobby.fill('[data-testid="rounds"]', '20');
  await lobby.selectOption('[data-testid="indirect"]', 'shuttle');
  await lobby.selectOption('[data-testid="role-candidate"]', 'seat:person');
  await lobby.fill('[data-testid="mandate-candidate"]', '0.95');
  await lobby.selectOption('[data-testid="role-employer"]', 'agent:conceder');
  check(await lobby.locator('[data-testid="confide-employer"]').isChecked(), 'lobby: a built-in negotiator confides by default in mediated talks');
  await lobby.selectOption('[data-testid="role-mediator"]', 'seat:person');
  await lobby.selectOption('[data-testid="owner-sees"]', 'all');
  await lobby.click('[data-testid="create-session"]');
  await lobby.locator('[data-testid="invite-link-mediator"]').waitFor({ state: 'visible' });
  const candUrl = await lobby.locator('[data-testid="invite-link-candidate"]').inputValue();
  const medUrl = await lobby.locator('[data-testid="invite-link-mediator"]').inputValue();
  const principalUrl = await lobby.locator('[data-testid="principal-link-candidate"]').inputValue();
  const ownerUrl = await lobby.locator('[data-testid="owner-link"]').inputValue();
  step('created with a mediator seat and a principal link for the delegate');

  const open = async (url, label) => {
    const p = await context.newPage();
    watchPage(p, `mediated ${label}`);
    await p.setViewportSize(viewport);
    await p.goto(url);
    await p.locator('[data-testid="status"]').filter({ hasText: /waiting|running/ }).waitFor();
    return p;
  };
  const cand = await open(candUrl, 'candidate');
  const med = await open(medUrl, 'mediator');
  const principal = await open(principalUrl, 'principal');
  check(await cand.locator('[data-testid="confide"]').isVisible(), 'room: the confide checkbox shows when there is a mediator');
  check(/0\.950/.test(await text(cand, 'mandate')), `room: the delegate should see its mandate 0.950, reads "${await text(cand, 'mandate')}"`);
  check(await principal.locator('[data-testid="join"]').count() === 0, 'principal: no Join button for the principal');
  await cand.check('[data-testid="confide"]');
  await cand.click('[data-testid="join"]');
  await med.click('[data-testid="join"]');
  await cand.locator('[data-testid="status"][data-status="running"]').waitFor();
  await med.locator('[data-testid="status"][data-status="running"]').waitFor();
  check(/indirect/i.test(await text(cand, 'phase')), `room: staged talks start indirect, the phase reads "${await text(cand, 'phase')}"`);
  await med.locator('[data-testid="confided"] li[data-party="candidate"][data-confided="yes"]').waitFor();
  check(await med.locator('[data-testid="confided"] li[data-party="employer"][data-confided="yes"]').count() === 1, 'mediator: the employer confided');
  await med.locator('[data-testid="mediator-plane"] svg[data-testid="plane-plot"]').waitFor();
  check(await med.locator('[data-testid="mediator-plane"] svg circle').count() >= 3, 'mediator: the utility plane shows the frontier points');
  step('both joined (candidate confides); the mediator sees who confided and the utility plane');
  // a note to the mediator: the mediator sees it, and only the mediator may be written to now
  const targets = await cand.locator('[data-testid="message-to"] option').allTextContents();
  check(targets.length === 1 && targets[0] === 'mediator', `room: in indirect talks a party writes to the mediator only, offered ${JSON.stringify(targets)}`);
  await cand.fill('[data-testid="message-text"]', 'Salary matters most to us.');
  await cand.click('[data-testid="message-send"]');
  await med.locator('[data-testid="history-item"][data-type="message"]').first().waitFor({ timeout: 15000 });
  step('the candidate\'s note to the mediator reaches the mediator');
  const rules = await text(cand, 'stage-rules');
  check(/Indirect talks last at most \d+ of \d+ rounds/.test(rules) && /only if every party consents/.test(rules), `room: the staged talks' rules should be in sight, read "${rules}"`);

  const state = (p) => p.evaluate(() => {
    const m = document.getElementById('main');
    return {
      status: m.dataset.status,
      kind: m.dataset.pendingKind,
      held: !!document.querySelector('[data-testid="ratify-confirm"], [data-testid="ratification-notice"]'),
      // An action in flight: its page still shows the turn it is answering, so wait.
      busy: !!document.querySelector('[aria-busy="true"]'),
    };
  });
  let texts = 0;
  let votes = 0;
  let proposals = 0;
  let standingU = null;
  let movedAt = null;
  let consented = false;
  for (let steps = 0; ; steps += 1) {
    check(steps < 60, 'mediated: the talks should have ended by now');
    const [c, m] = [await state(cand), await state(med)];
    if (c.status === 'ended') break;
    if (c.busy || m.busy) {
      const idle = () => !document.querySelector('[aria-busy="true"]');
      await cand.waitForFunction(idle);
      await med.waitForFunction(idle);
      steps -= 1;
      continue;
    }
    if (c.kind === 'propose') {
      for (const [issue, value] of Object.entries(myOffer(proposals * 4))) {
        await cand.locator(`[data-testid="offer-builder"] select[data-issue="${issue}"]`).selectOption(value);
      }
      await cand.click('[data-testid="send-proposal"]');
      proposals += 1;
    } else if (c.kind === 'consent') {
      check(await cand.locator('[data-testid="consent-accept"]').isVisible(), 'room: the call for direct talks offers a consent button');
      await shot(cand, 'mediated-candidate-consent');
      await cand.click('[data-testid="consent-accept"]');
      consented = true;
    } else if (c.kind === 'vote') {
      const tu = await text(cand, 'text-utility');
      check(U.test(tu), `room: the text to vote on should show my utility, got "${tu}"`);
      await cand.click('[data-testid="vote-reject"]');
      votes += 1;
    } else if (m.kind === 'text') {
      if (texts === 0) {
        await med.locator('[data-testid="positions-table"]').waitFor();
        const row = await med.locator('[data-testid="positions-table"] tbody tr').first().textContent();
        check(/100/.test(row), `mediator: the positions table should show the candidate's proposed salary 100, row reads "${row}"`);
        await med.click('[data-testid="fill-from"] button[data-party="employer"]');
        await med.waitForFunction(() => /Worth to the parties that confided: .*candidate \d/.test(document.querySelector('[data-testid="text-draft-utilities"]').textContent));
        step(`mediator: its draft's worth to the parties that confided: "${await text(med, 'text-draft-utilities')}"`);
        await shot(med, 'mediated-mediator');
        await med.click('[data-testid="send-text"]');
      } else {
        await med.click('[data-testid="fill-from"] button[data-party="candidate"]');
        await med.locator('[data-testid="progress"]').fill('1');
        await med.click('[data-testid="move-direct"]');
        movedAt = texts;
      }
      texts += 1;
    } else if (c.kind === 'act' && !c.held) {
      check(/direct/i.test(await text(cand, 'phase')) && !/indirect/i.test(await text(cand, 'phase')), `room: after the move the phase should read direct, reads "${await text(cand, 'phase')}"`);
      standingU = await text(cand, 'standing-utility');
      check(U.test(standingU), `room: the standing offer (the mediator's last text) should show my utility, got "${standingU}"`);
      await cand.click('[data-testid="accept"]');
      // An offer worth less than walking away asks once more (safe actions): confirm.
      if (await cand.locator('[data-testid="confirm-warning"]:visible').count()) {
        check(/anyway/.test(await text(cand, 'accept')), 'room: the accept button should ask to confirm');
        await cand.click('[data-testid="accept"]');
      }
      await cand.locator('[data-testid="ratification-notice"]').waitFor();
      // Held: the delegate is not offered anything that would only be refused.
      await cand.waitForFunction(() => document.getElementById('main').dataset.pendingKind === 'none');
      check(await cand.locator('[data-testid="accept"]').count() === 0, 'room: no Accept button while an acceptance waits for the principal');
      step(`direct talks: the delegate accepts the standing offer worth ${standingU}; outside the mandate, it waits for the principal, who confirms`);
      await principal.locator('[data-testid="ratify-confirm"]').waitFor();
      await shot(principal, 'mediated-principal');
      await principal.click('[data-testid="ratify-confirm"]');
    } else {
      await sleep(100);
      continue;
    }
    await sleep(150);
  }
  check(proposals >= 1 && votes >= 1 && texts >= 2 && movedAt !== null, `mediated: expected proposals, votes and two texts (got ${proposals}, ${votes}, ${texts})`);
  check(consented, 'mediated: the delegate was asked to consent to direct talks');
  check(await cand.locator('[data-testid="history-item"][data-type="consent"]').count() >= 2, 'room: the history shows every party\'s consent');
  step(`indirect phase: ${proposals} proposal(s), ${texts} text(s), ${votes} vote(s); the mediator called for direct talks and both consented; its last text stands as the default`);
  await cand.locator('[data-testid="result"][data-outcome="agreement"]').waitFor();
  check(await text(cand, 'result-utility') === standingU, `room: the confirmed acceptance should give ${standingU}, the result says ${await text(cand, 'result-utility')}`);
  await principal.locator('[data-testid="result"][data-outcome="agreement"]').waitFor();
  await med.locator('[data-testid="result"][data-outcome="agreement"]').waitFor();
  // After the deal the settlement check may put again the texts every party saw: the
  // talks end in the direct phase or, after that check, in post-settlement.
  const finalPhase = await text(med, 'phase');
  check(/direct|post-settlement/i.test(finalPhase) && !/indirect/i.test(finalPhase), `mediator: the phase should read direct or post-settlement at the end, reads "${finalPhase}"`);
  const held = await cand.locator('[data-testid="history-item"][data-type="ratification-pending"]').count();
  const confirmed = await cand.locator('[data-testid="history-item"][data-type="ratified"]').count();
  check(held >= 1 && held === confirmed, `room: the history should show each held acceptance and its confirmation (${held} held, ${confirmed} confirmed)`);
  const principalSays = await principal.locator('[data-testid="history-item"][data-type="ratified"]').first().textContent();
  check(/You confirmed your delegate's acceptance/.test(principalSays), `principal: the history should be worded for the principal, reads "${principalSays}"`);
  step('the principal confirmed: agreement, seen by delegate, principal and mediator');
  await shot(cand, 'mediated-candidate-ended');
  await med.setViewportSize({ width: 390, height: 844 });
  await noHorizontalScroll(med, 'mediator room (phone)');
  await shot(med, 'mediated-mediator-phone');
  const owner = await context.newPage();
  watchPage(owner, 'mediated owner');
  await owner.goto(ownerUrl);
  await owner.locator('[data-testid="analysis"] svg[data-testid="plane-plot"]').waitFor();
  const phases = await owner.locator('[data-testid="events-table"] tr[data-type="phase"]').count();
  check(phases >= 1 && phases <= 2, `owner: the events should include the move to direct talks (and the settlement check after the deal), ${phases} phase changes`);
  check(await owner.locator('[data-testid="events-table"] tr[data-type="call-direct"]').count() >= 1, 'owner: the events should include the call for direct talks');
  await shot(owner, 'mediated-owner');
  for (const p of [lobby, cand, med, principal, owner]) await p.close();
}

// ---------------------------------------------------------------------------
// an agenda uploaded in the lobby: each side states its own preferences privately,
// a person in the browser and a program over the API, then the mediator's texts

const LEASE = {
  name: 'shop lease',
  description: 'A bakery leases a shop on the high street.',
  issues: [
    { name: 'rent', values: ['900', '1100', '1300'] },
    { name: 'term', values: ['1 year', '3 years', '5 years'] },
    { name: 'repairs', values: ['tenant', 'landlord'] },
  ],
  parties: [
    { name: 'tenant', briefing: 'You bake; you need the shop for years.' },
    { name: 'landlord', briefing: 'You own the block.' },
  ],
};
// The landlord's weights: if any of them shows in the tenant's or the owner's page,
// it leaked.
const LANDLORD = {
  reservation: 0.25,
  utility: { issues: [
    { issue: 'rent', weight: 0.5813, values: { 900: 0, 1100: 0.7, 1300: 1 } },
    { issue: 'term', weight: 0.2519, values: { '1 year': 0.2, '3 years': 1, '5 years': 0.8 } },
    { issue: 'repairs', weight: 0.1668, values: { tenant: 1, landlord: 0 } },
  ] },
};
const LANDLORD_MARKS = ['0.5813', '0.2519', '0.1668'];

async function call(base, method, url, token, body) {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => null);
  check(res.ok, `${method} ${url}: ${res.status} ${JSON.stringify(data)}`);
  return data;
}

async function agendaFlow(base) {
  const viewport = { width: 1366, height: 800 };
  console.log('\n[agenda] an uploaded agenda: tenant = person (sets preferences in the room), landlord = program, mediator = hill-climber');
  const file = path.join(tmp, 'lease.json');
  fs.writeFileSync(file, JSON.stringify(LEASE, null, 2));
  const lobby = await context.newPage();
  watchPage(lobby, 'agenda lobby');
  await lobby.setViewportSize(viewport);
  await lobby.goto(`${base}/#create=${CREATOR}`);
  await lobby.locator('[data-testid="scenario"] option[value="job-offer"]').waitFor({ state: 'attached' });
  await lobby.setInputFiles('[data-testid="upload"]', file);
  await lobby.locator('[data-testid="agenda-note"]').waitFor();
  check(await lobby.locator('[data-testid="scenario"]').inputValue() === '__upload__', 'lobby: the uploaded scenario is selected');
  check(/tenant, landlord/.test(await text(lobby, 'agenda-note')), `lobby: the agenda note names the parties, reads "${await text(lobby, 'agenda-note')}"`);
  check(await lobby.locator('[data-testid="role-tenant"] option[value^="agent:"]').count() === 0, 'lobby: a party that sets its own preferences is offered seats only');
  step('lobby: the agenda uploads; its parties must be seats');
  await lobby.selectOption('[data-testid="protocol"]', 'single-text');
  await lobby.fill('[data-testid="rounds"]', '30');
  await lobby.selectOption('[data-testid="role-tenant"]', 'seat:person');
  await lobby.selectOption('[data-testid="role-landlord"]', 'seat:program');
  // The host sees the public record only: nothing of what the parties confide.
  await lobby.selectOption('[data-testid="owner-sees"]', 'public');
  await shot(lobby, 'agenda-lobby-upload');
  await lobby.click('[data-testid="create-session"]');
  await lobby.locator('[data-testid="invite-link-tenant"]').waitFor({ state: 'visible' });
  const tenantUrl = await lobby.locator('[data-testid="invite-link-tenant"]').inputValue();
  const landlordUrl = await lobby.locator('[data-testid="invite-link-landlord"]').inputValue();
  const ownerUrl = await lobby.locator('[data-testid="owner-link"]').inputValue();
  const sid = (await lobby.locator('[data-testid="session-id"]').textContent()).trim();
  const landlordToken = landlordUrl.split('#token=')[1];
  const api = `/api/sessions/${sid}`;

  // The landlord (a program) states its preferences and joins, confiding in the mediator.
  await call(base, 'PUT', `${api}/preferences`, landlordToken, LANDLORD);
  await call(base, 'POST', `${api}/join`, landlordToken, { confide: true });

  const room = await context.newPage();
  watchPage(room, 'agenda tenant');
  await room.setViewportSize(viewport);
  await room.goto(tenantUrl);
  const prefs = room.locator('[data-testid="preferences"]');
  await prefs.locator('[data-testid="save-preferences"]').waitFor();
  check(/You bake/.test(await text(room, 'briefing')), 'room: the briefing shows before the talks');
  // Rent matters most; cheap rent, long term, repairs by the landlord; never 1300.
  await room.fill('[data-testid="importance-0"]', '9');
  await room.fill('[data-testid="importance-1"]', '4');
  await room.fill('[data-testid="importance-2"]', '2');
  await room.fill('[data-testid="score-1-0"]', '0');
  await room.fill('[data-testid="score-1-1"]', '6');
  await room.fill('[data-testid="score-1-2"]', '10');
  await room.fill('[data-testid="score-2-0"]', '0');
  await room.fill('[data-testid="score-2-1"]', '10');
  await room.check('[data-testid="never-0-2"]');
  await room.fill('[data-testid="reservation-input"]', '35');
  const preview = await text(room, 'preferences-preview');
  check(/Your best package: rent 900, term 5 years, repairs landlord/.test(preview) && /1\.000/.test(preview), `room: the preview values my best package at 1.000, reads "${preview}"`);
  check(/you never accept this/.test(preview), 'room: the preview marks a package across my red line');
  await shot(room, 'agenda-preferences');
  await room.setViewportSize({ width: 390, height: 844 });
  await noHorizontalScroll(room, 'preferences (phone)');
  await shot(room, 'agenda-preferences-phone');
  await prefs.scrollIntoViewIfNeeded();
  await shot(room, 'agenda-preferences-phone-top', false);
  await room.setViewportSize(viewport);
  await room.click('[data-testid="save-preferences"]');
  await prefs.locator('h2', { hasText: 'saved' }).waitFor();
  const mine = await call(base, 'GET', `${api}/preferences`, tenantUrl.split('#token=')[1]);
  check(mine.preferences.reservation === 0.35 && mine.preferences.red_lines[0].never[0] === '1300', `the saved preferences are what the screen says: ${JSON.stringify(mine.preferences)}`);
  step('the tenant states its preferences in the room: importance, scores, a red line, what no deal is worth; the preview follows');
  await room.check('[data-testid="confide"]');
  await room.click('[data-testid="join"]');
  await room.locator('[data-testid="status"][data-status="running"]').waitFor();
  check(await prefs.isHidden(), 'room: the preference screen closes when the talks start');
  check(/red line/i.test(await text(room, 'red-lines')) || /1300/.test(await text(room, 'red-lines')), 'room: my red line is listed');

  const tenantState = () => room.evaluate(() => document.getElementById('main').dataset);
  let votes = 0;
  for (let steps = 0; ; steps += 1) {
    check(steps < 200, 'agenda: the talks should have ended by now');
    const d = await tenantState();
    if (d.status === 'ended') break;
    const lv = await call(base, 'GET', api, landlordToken);
    if (lv.pending && lv.pending.kind === 'vote') {
      await call(base, 'POST', `${api}/actions`, landlordToken, { type: 'vote', accept: lv.pending.text_utility >= 0.45 });
      continue;
    }
    if (d.pendingKind === 'vote') {
      const u = Number(await text(room, 'text-utility'));
      if (u >= 0.5) {
        await room.click('[data-testid="vote-accept"]');
        if (await room.locator('[data-testid="confirm-warning"]:visible').count()) await room.click('[data-testid="vote-accept"]');
      } else {
        await room.click('[data-testid="vote-reject"]');
      }
      votes += 1;
      await room.waitForFunction(() => document.getElementById('main').dataset.pendingKind !== 'vote' || document.getElementById('main').dataset.status === 'ended').catch(() => {});
      continue;
    }
    await sleep(100);
  }
  await room.locator('[data-testid="result"][data-outcome="agreement"]').waitFor();
  const ru = Number(await text(room, 'result-utility'));
  check(ru >= 0.35, `agenda: the deal is worth at least my reservation value to me (${ru})`);
  const roomText = await room.locator('body').textContent();
  check(!LANDLORD_MARKS.some((m) => roomText.includes(m)), 'agenda: the landlord\'s preferences never reach the tenant\'s room');
  step(`agreement after ${votes} vote(s), worth ${ru} to the tenant; nothing of the landlord's preferences in the tenant's room`);
  await shot(room, 'agenda-room-ended');

  // The owner: sees neither party's preferences, exports the record.
  const owner = await context.newPage();
  watchPage(owner, 'agenda owner');
  await owner.setViewportSize(viewport);
  await owner.goto(ownerUrl);
  await owner.locator('[data-testid="status"][data-status="ended"]').waitFor();
  const ownerText = await owner.locator('body').textContent();
  check(!LANDLORD_MARKS.some((m) => ownerText.includes(m)), 'agenda: the owner sees nothing of the preferences the parties set');
  check(await owner.locator('[data-testid="cancel-session"]').isHidden(), 'owner: no cancel button once the talks are over');
  const [json] = await Promise.all([owner.waitForEvent('download'), owner.click('[data-testid="export-json"]')]);
  const record = JSON.parse(fs.readFileSync(await json.path(), 'utf8'));
  check(record.view && record.view.result && record.view.result.agreement, 'owner: the JSON export holds the result');
  check(!LANDLORD_MARKS.some((m) => JSON.stringify(record).includes(m)), 'owner: the export holds nothing of the parties\' preferences');
  const [csv] = await Promise.all([owner.waitForEvent('download'), owner.click('[data-testid="export-csv"]')]);
  const lines = fs.readFileSync(await csv.path(), 'utf8').trim().split('\n');
  check(lines[0].startsWith('seq,round,time,type,from,rent,term,repairs') && lines.length >= 3, `owner: the CSV export lists the events (${lines.length - 1} rows), header "${lines[0]}"`);
  step(`owner: exports the record as JSON and ${lines.length - 1} events as CSV; no preferences in either`);
  await shot(owner, 'agenda-owner');

  // Cancelling talks in progress.
  const created = await call(base, 'POST', '/api/sessions', CREATOR, {
    scenario: 'job-offer', protocol: 'saop', rounds: 20,
    roles: { candidate: { seat: 'person' }, employer: { agent: 'boulware' } },
  });
  await call(base, 'POST', `/api/sessions/${created.id}/join`, created.seats.candidate.token, {});
  await owner.goto(`${base}${created.owner_link}`);
  await owner.reload();
  await owner.locator('[data-testid="status"][data-status="running"]').waitFor();
  // A new link for the candidate: the old one stops working, the new one works.
  await owner.click('[data-testid="reissue-candidate"]');
  const newLink = await owner.locator('[data-testid="new-link-candidate"]').inputValue();
  const oldRes = await fetch(`${base}/api/sessions/${created.id}`, { headers: { Authorization: `Bearer ${created.seats.candidate.token}` } });
  check(oldRes.status === 401, `the old link is refused once re-issued (${oldRes.status})`);
  const fresh = await call(base, 'GET', `/api/sessions/${created.id}`, newLink.split('#token=')[1]);
  check(fresh.role && fresh.role.name === 'candidate', 'the new link opens the candidate\'s seat');
  step('owner: re-issues the candidate\'s link; the old one is refused at once');
  await owner.click('[data-testid="cancel-session"]');
  await owner.locator('[data-testid="cancel-confirm"]').waitFor();
  await shot(owner, 'owner-cancel-confirm');
  await owner.click('[data-testid="cancel-confirm"]');
  await owner.locator('[data-testid="status"][data-status="ended"]').waitFor();
  check(/cancelled/.test(await owner.locator('[data-testid="result"]').textContent()), 'owner: the result says the session was cancelled');
  const seat = await call(base, 'GET', `/api/sessions/${created.id}`, newLink.split('#token=')[1]);
  check(seat.result && seat.result.reason === 'cancelled', `the seat sees the cancellation: ${JSON.stringify(seat.result)}`);
  step('owner: cancels talks in progress; the seat sees them ended, "cancelled"');
  for (const p of [lobby, room, owner]) await p.close();
}

async function main() {
  check(fs.existsSync(BIN), `no parley binary at ${BIN} (build it with cargo build --release, or set PARLEY_BIN)`);
  check(fs.existsSync(CHROMIUM), `no browser at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM)`);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const log = fs.openSync(serverLog, 'w');
  console.log(`parley: ${BIN}\nbrowser: ${CHROMIUM}\nwork dir: ${tmp}`);
  server = spawn(BIN, ['serve', '--db', path.join(tmp, 't.db'), '--addr', `127.0.0.1:${port}`], {
    stdio: ['ignore', log, log],
    env: { ...process.env, PARLEY_CREATE_TOKEN: CREATOR },
  });
  server.on('error', (e) => { console.error(`could not start ${BIN}: ${e.message}`); });
  await waitHealthy(base, 30000);
  console.log(`server up at ${base}`);

  context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1366, height: 800 },
  });
  context.setDefaultTimeout(15000);

  await flow(base, 'desktop', { width: 1366, height: 800 });
  await flow(base, 'phone', { width: 390, height: 844 });
  await mediated(base);
  await agendaFlow(base);
  check(pageErrors.length === 0, `uncaught errors in the page:\n    ${pageErrors.join('\n    ')}`);
  check(axeFindings.length === 0, `axe-core: serious or critical accessibility findings:\n    ${axeFindings.join('\n    ')}`);
  step(`axe-core: no serious or critical findings on ${screenshots.length} screens`);

  if (process.env.KEEP_GOING) {
    console.log(`\nKEEP_GOING: server still at ${base} (pid ${server.pid}); Ctrl-C to stop`);
    await new Promise(() => {});
  }
}

let failed = false;
try {
  await main();
  console.log('\nPASS: the web UI works end to end');
} catch (e) {
  failed = true;
  console.error(`\nFAIL: ${e instanceof CheckFailed ? e.message : e.stack || e}`);
  if (pageErrors.length) console.error(`uncaught page errors:\n    ${pageErrors.join('\n    ')}`);
  if (context) {
    for (const [i, p] of context.pages().entries()) {
      if (p.url() === 'about:blank') continue;
      try { await shot(p, `failure-${i}`); } catch { /* closed */ }
    }
  }
  if (fs.existsSync(serverLog)) {
    const lines = fs.readFileSync(serverLog, 'utf8').trim().split('\n').slice(-20);
    if (lines.join('').trim()) console.error(`server log (last lines of ${serverLog}):\n    ${lines.join('\n    ')}`);
  }
} finally {
  if (context) await context.close().catch(() => {});
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await Promise.race([new Promise((r) => server.once('exit', r)), new Promise((r) => setTimeout(r, 3000))]);
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  }
  if (screenshots.length) console.log(`\nscreenshots:\n  ${screenshots.join('\n  ')}`);
}
process.exit(failed ? 1 : 0);
