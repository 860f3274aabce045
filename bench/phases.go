package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/policy"
	"github.com/sesame-edu/sesame/server/school"
)

// codesPerHour is the school's per-identifier limit (bench/school.yaml).
const codesPerHour = 5

// allocator hands accounts to simulated people so that two flows never
// race on one account (a reset voids the other flow's code, which would
// look like a server error), and no identifier or address asks for more
// than its 5 codes an hour. One allocator lives as long as one server
// process (each starts from a fresh copy of the seeded data).
type allocator struct {
	mu       sync.Mutex
	sd       *schoolData
	busy     []bool
	uses     map[string]int // account id or normalised address → codes asked
	pw       []string       // current password of each account
	cur, sig int
	hh       int
	noMail   []int
}

func newAllocator(sd *schoolData, direct bool) *allocator {
	a := &allocator{sd: sd, busy: make([]bool, len(sd.people)), uses: map[string]int{}, pw: make([]string, len(sd.people))}
	for i, p := range sd.people {
		a.pw[i] = p.Password
		if direct {
			a.pw[i] = sharedPassword
		}
		if p.Email == "" {
			a.noMail = append(a.noMail, i)
		}
	}
	// Start at a random place so that runs do not always hit the same rows.
	a.cur = rand.IntN(len(sd.people))
	return a
}

// identifier returns an account with an address whose identifier may
// still ask for a code; lock marks it busy until release.
func (a *allocator) identifier(lock bool) (int, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := len(a.sd.people)
	for range n {
		i := a.cur
		a.cur = (a.cur + 1) % n
		p := a.sd.people[i]
		// The server mails each account and each address at most
		// codesPerHour times an hour, whatever was typed.
		addr := account.NormaliseEmail(p.Email)
		if p.Email == "" || a.busy[i] || a.uses[p.ID] >= codesPerHour || a.uses[addr] >= codesPerHour {
			continue
		}
		a.uses[p.ID]++
		a.uses[addr]++
		a.busy[i] = lock
		return i, true
	}
	return -1, false
}

// household returns a shared address none of whose accounts is busy, and
// locks them all.
func (a *allocator) household() (int, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := len(a.sd.households)
	for range n {
		h := a.hh
		a.hh = (a.hh + 1) % n
		members := a.sd.households[h]
		key := account.NormaliseEmail(a.sd.people[members[0]].Email)
		if a.uses[key] >= codesPerHour || slices.ContainsFunc(members, func(i int) bool {
			return a.busy[i] || a.uses[a.sd.people[i].ID] >= codesPerHour
		}) {
			continue
		}
		a.uses[key]++
		for _, i := range members {
			a.busy[i] = true
			a.uses[a.sd.people[i].ID]++
		}
		return h, true
	}
	return -1, false
}

// noAddress returns a student without an address (no mail can be sent).
func (a *allocator) noAddress() (int, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for range len(a.noMail) {
		i := a.noMail[rand.IntN(len(a.noMail))]
		if a.uses[a.sd.people[i].ID] < codesPerHour {
			a.uses[a.sd.people[i].ID]++
			return i, true
		}
	}
	return -1, false
}

// signIn returns any idle account and its current password, locked.
func (a *allocator) signIn() (int, string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := len(a.sd.people)
	for range n {
		i := a.sig
		a.sig = (a.sig + 7919) % n
		if a.busy[i] {
			a.sig = (a.sig + 1) % n
			continue
		}
		a.busy[i] = true
		return i, a.pw[i], true
	}
	return -1, "", false
}

func (a *allocator) release(idx ...int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, i := range idx {
		a.busy[i] = false
	}
}

func (a *allocator) setPassword(id, pw string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, p := range a.sd.people {
		if p.ID == id {
			a.pw[i] = pw
			return
		}
	}
}

// newPassword draws a password that the account's population accepts.
func newPassword(sc *school.Config, p person) (string, error) {
	const letters = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ"
	for range 100 {
		var b strings.Builder
		b.WriteString("Vx")
		for range 10 {
			b.WriteByte(letters[rand.IntN(len(letters))])
		}
		fmt.Fprintf(&b, "%02d", rand.IntN(100))
		pw := b.String()
		if sc.PolicyOf(p.Population).Evaluate(pw, policy.Context{Identifier: p.Identifier, FirstName: p.First, LastName: p.Last}).OK {
			return pw, nil
		}
	}
	return "", fmt.Errorf("no password accepted by population %s's policy", p.Population)
}

// flow is one person's recovery in progress.
type flow struct {
	b       *browser
	person  int   // the account asked for, or -1 (an address)
	locked  []int // accounts to release at the end
	pop     string
	input   string
	id      string
	sentAt  time.Time
	code    string
	account string // chosen at step 3 when the address has several
	mail    bool   // a code mail is expected
}

const (
	opLogin    = "GET / (login page)"
	opAssets   = "GET /assets/*"
	opRecovery = "GET /recovery?population="
	opStep1    = "step 1 POST /recovery/request"
	opStep2    = "step 2 POST /recovery/code"
	opStep3    = "step 3 POST /recovery/password"
	opSignIn   = "sign-in POST /login"
	opAccount  = "GET /account"
	opLogout   = "POST /logout"
	opHelp     = "GET /help/…"
	opMail     = "code mail received"
)

// hashingOps spend an argon2id hash; every other request must stay fast.
var hashingOps = []string{opStep3, opSignIn}

var nonHashingOps = []string{opLogin, opAssets, opRecovery, opStep1, opStep2, opAccount, opLogout, opHelp}

// timed runs one request and records it under op.
func timed(rec *recorder, op string, f func() (response, error), verify func(response) error) (response, bool) {
	start := time.Now()
	r, err := f()
	d := time.Since(start)
	if err == nil {
		err = verify(r)
	}
	if err != nil {
		rec.fail(op, d, r.Status, err.Error())
		return r, false
	}
	rec.ok(op, d)
	return r, true
}

func want(status int, st string) func(response) error {
	return func(r response) error { return check(r, nil, status, st) }
}

// open loads the recovery dialog's page as a browser arriving from the
// sign-in page does, and keeps its form token.
func (f *flow) open(rec *recorder) bool {
	_, ok := timed(rec, opRecovery, func() (response, error) {
		return f.b.do(http.MethodGet, "/recovery?population="+url.QueryEscape(f.pop), nil, false)
	}, func(r response) error {
		if err := check(r, nil, 200, ""); err != nil {
			return err
		}
		if !f.b.readCSRF(r) {
			return fmt.Errorf("the recovery page has no form token")
		}
		return nil
	})
	return ok
}

// perFlow divides a phase's CPU time by its successful flows.
func perFlow(cpu time.Duration, n int) time.Duration {
	if n == 0 {
		return 0
	}
	return cpu / time.Duration(n)
}

// step1 submits the identifier (or address) as the dialog does.
func (f *flow) step1(rec *recorder) bool {
	form := f.b.recoveryForm(f.pop)
	form.Set("input", f.input)
	form.Set("consent", "yes")
	_, ok := timed(rec, opStep1, func() (response, error) {
		return f.b.do(http.MethodPost, "/recovery/request", form, true)
	}, want(200, "code"))
	if ok {
		f.sentAt = time.Now()
		f.id = f.b.flowID()
		if f.id == "" {
			rec.fail(opStep1, 0, 200, "no sesame_recovery cookie")
			return false
		}
	}
	return ok
}

func (f *flow) step2(rec *recorder) bool {
	form := f.b.recoveryForm(f.pop)
	form.Set("flow", f.id)
	form.Set("code", f.code)
	r, ok := timed(rec, opStep2, func() (response, error) {
		return f.b.do(http.MethodPost, "/recovery/code", form, true)
	}, want(200, "password"))
	if ok {
		if m := accountRE.FindStringSubmatch(r.Body); m != nil {
			f.account = m[1] // a shared address: the first child's account
		}
	}
	return ok
}

func (f *flow) step3(rec *recorder, pw string) bool {
	form := f.b.recoveryForm(f.pop)
	if f.account != "" {
		form.Set("account", f.account)
	}
	form.Set("password", pw)
	form.Set("confirm", pw)
	_, ok := timed(rec, opStep3, func() (response, error) {
		return f.b.do(http.MethodPost, "/recovery/password", form, true)
	}, func(r response) error {
		if err := check(r, nil, 200, "done"); err != nil {
			return err
		}
		if !strings.Contains(r.Body, `data-testid="recovery-done"`) {
			return fmt.Errorf("step 4 without the done message")
		}
		return nil
	})
	return ok
}

// ---------------------------------------------------------------------
// Steps 1, 2 and 3 at a fixed concurrency.

type stepsResult struct {
	Step1, Step2, Step3 summary
	// Form is the GET of the recovery page that precedes each step 1.
	Form summary
	// CPU1..3 are the server's CPU time per successful flow of each
	// phase (user + system, from /proc/<pid>/stat), the form's GET
	// included in step 1's.
	CPU1, CPU2, CPU3 time.Duration
	Flows            int
	MailWait         time.Duration // last code in, after the step-1 phase ended
	MailRate         float64       // codes per second, from the first step 1 to the last code
	MailLagP50       time.Duration
	MailLagP99       time.Duration
	MailMissing      int
	Step2Flows       int
}

// runSteps measures each step alone: step 1 for dur, then (once the codes
// have arrived) step 2 on every flow, then step 3 on one flow per account
// for at most dur. Without full, it stops after step 1.
func runSteps(sv *server, sk *sink, sd *schoolData, sc *school.Config, al *allocator, conc int, dur, mailWait time.Duration, full bool, hook func(phase string, begin bool)) (stepsResult, error) {
	if hook == nil {
		hook = func(string, bool) {}
	}
	var res stepsResult
	tr := newTransport(conc)
	defer tr.CloseIdleConnections()

	rec1 := newRecorder()
	var mu sync.Mutex
	var flows []*flow
	var wg sync.WaitGroup
	hook("step1", true)
	deadline := time.Now().Add(dur)
	cpu := cpuTime(sv.Pid())
	rec1.begin()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				i, ok := al.identifier(false)
				if !ok {
					rec1.fail(opStep1, 0, 0, "identifiers exhausted (5 codes/hour each)")
					return
				}
				p := sd.people[i]
				// A new person each time, as a browser loads the server:
				// their own cookies, the form page, its token, then step 1.
				f := &flow{b: newBrowser(sv.URL, tr), person: i, pop: p.Population, input: p.Identifier, mail: true}
				if !f.open(rec1) {
					continue
				}
				if f.step1(rec1) {
					mu.Lock()
					flows = append(flows, f)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	rec1.stop()
	res.CPU1 = perFlow(cpuTime(sv.Pid())-cpu, rec1.summary(opStep1).N)
	hook("step1", false)
	res.Step1 = rec1.summary(opStep1)
	res.Form = rec1.summary(opRecovery)
	res.Flows = len(flows)
	if !full && mailWait == 0 {
		return res, nil
	}
	phaseEnd := time.Now()

	// Codes: every flow of an existing account with an address gets one.
	var lags []time.Duration
	var withCode []*flow
	first, last := rec1.start, rec1.start
	waitUntil := time.Now().Add(mailWait)
	for _, f := range flows {
		m, ok := sk.wait(f.id, max(time.Until(waitUntil), 0))
		if !ok {
			res.MailMissing++
			continue
		}
		f.code = m.Code
		withCode = append(withCode, f)
		lags = append(lags, m.At.Sub(f.sentAt))
		if m.At.After(last) {
			last = m.At
		}
	}
	res.MailWait = max(last.Sub(phaseEnd), 0)
	if el := last.Sub(first).Seconds(); el > 0 {
		res.MailRate = float64(len(withCode)) / el
	}
	res.MailLagP50, res.MailLagP99, _ = percentiles(lags)
	res.Step2Flows = len(withCode)
	if !full {
		return res, nil
	}

	// Step 2 on every flow whose code arrived.
	rec2 := newRecorder()
	next := make(chan *flow, len(withCode))
	for _, f := range withCode {
		next <- f
	}
	close(next)
	var verified []*flow
	hook("step2", true)
	cpu = cpuTime(sv.Pid())
	rec2.begin()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range next {
				if f.step2(rec2) {
					mu.Lock()
					verified = append(verified, f)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	rec2.stop()
	res.CPU2 = perFlow(cpuTime(sv.Pid())-cpu, rec2.summary(opStep2).N)
	hook("step2", false)
	res.Step2 = rec2.summary(opStep2)

	// Step 3: one flow per account (a reset voids the account's other
	// flows, as it should).
	seen := map[int]bool{}
	next3 := make(chan *flow, len(verified))
	for _, f := range verified {
		if !seen[f.person] {
			seen[f.person] = true
			next3 <- f
		}
	}
	close(next3)
	rec3 := newRecorder()
	hook("step3", true)
	deadline = time.Now().Add(dur)
	cpu = cpuTime(sv.Pid())
	rec3.begin()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range next3 {
				if time.Now().After(deadline) {
					return
				}
				pw, err := newPassword(sc, sd.people[f.person])
				if err != nil {
					rec3.fail(opStep3, 0, 0, err.Error())
					return
				}
				if f.step3(rec3, pw) {
					al.setPassword(sd.people[f.person].ID, pw)
				}
			}
		}()
	}
	wg.Wait()
	rec3.stop()
	res.CPU3 = perFlow(cpuTime(sv.Pid())-cpu, rec3.summary(opStep3).N)
	hook("step3", false)
	res.Step3 = rec3.summary(opStep3)
	return res, nil
}

// rawHashRate is argon2id hashes per second in this process, with the
// server's parameters and semaphore, at conc concurrent callers.
func rawHashRate(conc int, dur time.Duration) float64 {
	h := account.NewHasher(account.DefaultParams(), runtime.NumCPU())
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(dur)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if _, err := h.Hash("Vxkmnpqrstuv42"); err == nil {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

// ---------------------------------------------------------------------
// Mixed load: many people at once, each doing what people do.

type mixedResult struct {
	Rec       *recorder
	NonHash   summary
	Hash      summary
	Total5xx  int
	Expected  int           // code mails that must arrive
	Arrived   int           // arrived before the drain timeout
	DrainTime time.Duration // after the load stopped
	LagP50    time.Duration
	LagP99    time.Duration
	MaxRSS    int64 // KiB, sampled
	MaxMem    memInfo
	HWM       int64 // KiB, VmHWM at the end
	CPU       time.Duration
	Scenarios map[string]int
}

// expected tracks the code mails the server owes.
type expected struct {
	mu    sync.Mutex
	flows map[string]time.Time
}

func (e *expected) add(id string, at time.Time) {
	e.mu.Lock()
	e.flows[id] = at
	e.mu.Unlock()
}

func runMixed(sv *server, sk *sink, sd *schoolData, sc *school.Config, al *allocator, clients int, dur, think, mailTimeout, drain time.Duration, hook func(phase string, begin bool)) mixedResult {
	if hook == nil {
		hook = func(string, bool) {}
	}
	res := mixedResult{Rec: newRecorder(), Scenarios: map[string]int{}}
	rec := res.Rec
	exp := &expected{flows: map[string]time.Time{}}
	tr := newTransport(clients)
	defer tr.CloseIdleConnections()
	var scMu sync.Mutex
	count := func(s string) { scMu.Lock(); res.Scenarios[s]++; scMu.Unlock() }

	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	pause := func() bool {
		if think > 0 {
			// Exponential think time around the mean, as people differ.
			d := time.Duration(rand.ExpFloat64() * float64(think))
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		return ctx.Err() == nil
	}
	pops := []string{"parents", "students", "staff", "contract-staff", "officials"}

	// visit is a new person opening the login page, half of them with the
	// assets not yet cached.
	visit := func() (*browser, bool) {
		b := newBrowser(sv.URL, tr)
		r, ok := timed(rec, opLogin, func() (response, error) { return b.do(http.MethodGet, "/", nil, false) },
			func(r response) error {
				if err := check(r, nil, 200, ""); err != nil {
					return err
				}
				if !b.readCSRF(r) {
					return fmt.Errorf("no CSRF token")
				}
				return nil
			})
		if !ok {
			return nil, false
		}
		if rand.IntN(2) == 0 {
			for _, m := range assetRE.FindAllStringSubmatch(r.Body, -1) {
				timed(rec, opAssets, func() (response, error) { return b.do(http.MethodGet, m[1], nil, false) }, want(200, ""))
			}
		}
		return b, pause()
	}

	recovery := func(f *flow) {
		defer al.release(f.locked...)
		if !pause() {
			return
		}
		if _, ok := timed(rec, opRecovery, func() (response, error) {
			return f.b.do(http.MethodGet, "/recovery?population="+url.QueryEscape(f.pop), nil, true)
		}, want(200, "request")); !ok || !pause() {
			return
		}
		if !f.step1(rec) {
			return
		}
		if !f.mail {
			return
		}
		exp.add(f.id, f.sentAt)
		m, ok := sk.waitCtx(ctx, f.id, mailTimeout)
		if !ok {
			if ctx.Err() == nil {
				rec.fail(opMail, mailTimeout, 0, fmt.Sprintf("no code within %s", mailTimeout))
			}
			return // the drain, after the load, checks that it still comes
		}
		rec.ok(opMail, m.At.Sub(f.sentAt))
		f.code = m.Code
		if !pause() || !f.step2(rec) || !pause() {
			return
		}
		target := f.person
		if f.account != "" {
			for _, i := range f.locked {
				if sd.people[i].ID == f.account {
					target = i
				}
			}
		}
		if target < 0 {
			target = f.locked[0]
		}
		pw, err := newPassword(sc, sd.people[target])
		if err != nil {
			rec.fail(opStep3, 0, 0, err.Error())
			return
		}
		if f.step3(rec, pw) {
			al.setPassword(sd.people[target].ID, pw)
		}
	}

	var wg sync.WaitGroup
	rss := sampleRSS(sv.Pid(), 100*time.Millisecond)
	cpu0 := cpuTime(sv.Pid())
	rec.begin()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				b, ok := visit()
				if !ok {
					continue
				}
				switch x := rand.Float64(); {
				case x < 0.55: // forgotten password, by identifier
					i, ok := al.identifier(true)
					if !ok {
						rec.fail(opStep1, 0, 0, "identifiers exhausted")
						continue
					}
					count("recovery by identifier")
					p := sd.people[i]
					recovery(&flow{b: b, person: i, locked: []int{i}, pop: p.Population, input: p.Identifier, mail: true})
				case x < 0.60: // forgotten password, by a shared address
					h, ok := al.household()
					if !ok {
						continue
					}
					count("recovery by shared address")
					m := sd.households[h]
					p := sd.people[m[0]]
					recovery(&flow{b: b, person: -1, locked: m, pop: p.Population, input: p.Email, mail: true})
				case x < 0.65: // no code will come: unknown identifier or no address
					count("recovery, nothing to mail")
					f := &flow{b: b, person: -1, pop: "parents", input: fmt.Sprintf("X%07d", rand.IntN(1e7))}
					if rand.IntN(2) == 0 {
						if i, ok := al.noAddress(); ok {
							f.pop, f.input = sd.people[i].Population, sd.people[i].Identifier
						}
					}
					recovery(f)
				case x < 0.90: // sign in, look at one's page, sign out
					i, pw, ok := al.signIn()
					if !ok {
						continue
					}
					count("sign-in")
					form := url.Values{"_csrf": {b.csrf}, "identifier": {sd.people[i].Identifier}, "password": {pw}}
					_, ok = timed(rec, opSignIn, func() (response, error) { return b.do(http.MethodPost, "/login", form, false) },
						func(r response) error {
							if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/account" {
								return fmt.Errorf("status %d to %q", r.Status, r.Header.Get("Location"))
							}
							return nil
						})
					if ok && pause() {
						if _, ok := timed(rec, opAccount, func() (response, error) { return b.do(http.MethodGet, "/account", nil, false) }, want(200, "")); ok && pause() {
							timed(rec, opLogout, func() (response, error) {
								return b.do(http.MethodPost, "/logout", url.Values{"_csrf": {b.csrf}}, false)
							}, want(http.StatusSeeOther, ""))
						}
					}
					al.release(i)
				default: // the help page of one's population
					count("help page")
					pop := pops[rand.IntN(len(pops))]
					timed(rec, opHelp, func() (response, error) { return b.do(http.MethodGet, "/help/"+pop, nil, false) }, want(200, ""))
				}
			}
		}()
	}
	hook("mixed", true)
	select {
	case <-ctx.Done():
	case <-time.After(dur / 2):
		hook("mixed-middle", true)
		<-ctx.Done()
	}
	rec.stop()
	hook("mixed", false)
	wg.Wait()
	res.CPU = cpuTime(sv.Pid()) - cpu0
	res.NonHash = rec.merged("non-hashing requests", nonHashingOps...)
	res.Hash = rec.merged("hashing requests", hashingOps...)
	res.Total5xx = rec.total5xx()

	// Every code asked for must arrive, even after the load.
	end := time.Now()
	exp.mu.Lock()
	defer exp.mu.Unlock()
	res.Expected = len(exp.flows)
	var lags []time.Duration
	last := end
	for id, at := range exp.flows {
		m, ok := sk.wait(id, max(time.Until(end.Add(drain)), 0))
		if ok {
			res.Arrived++
			lags = append(lags, m.At.Sub(at))
			if m.At.After(last) {
				last = m.At
			}
		}
	}
	res.DrainTime = last.Sub(end)
	res.LagP50, res.LagP99, _ = percentiles(lags)
	res.MaxMem = rss.Max()
	res.MaxRSS = res.MaxMem.RSS
	_, res.HWM = memory(sv.Pid())
	return res
}

// ---------------------------------------------------------------------
// Bytes on the wire of a first visit.

type wireRow struct {
	What    string
	In, Out int64 // bytes read and written on the connection
	Body    int64 // of In, the (compressed) body
	Status  int
	Enc     string
}

// runWire walks one person through the three steps on a fresh browser,
// counting every byte their connection reads and writes.
func runWire(sv *server, sk *sink, sd *schoolData, sc *school.Config, al *allocator) ([]wireRow, error) {
	ct := newCountingTransport()
	defer ct.CloseIdleConnections()
	b := newBrowser(sv.URL, ct)
	var rows []wireRow
	var lastErr error
	req := func(what, method, path string, form url.Values, htmx bool) response {
		in0, out0 := ct.in.Load(), ct.out.Load()
		r, err := b.do(method, path, form, htmx)
		if err != nil {
			lastErr = err
		}
		rows = append(rows, wireRow{What: what, In: ct.in.Load() - in0, Out: ct.out.Load() - out0, Body: int64(r.WireBody), Status: r.Status, Enc: r.Header.Get("Content-Encoding")})
		return r
	}
	r := req("GET /", http.MethodGet, "/", nil, false)
	if !b.readCSRF(r) {
		return rows, fmt.Errorf("login page without a CSRF token (status %d)", r.Status)
	}
	seen := map[string]bool{}
	for _, m := range assetRE.FindAllStringSubmatch(r.Body, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			req("GET "+m[1], http.MethodGet, m[1], nil, false)
		}
	}
	i, ok := al.identifier(true)
	if !ok {
		return rows, fmt.Errorf("no identifier left")
	}
	defer al.release(i)
	p := sd.people[i]
	r = req("GET /recovery?population="+p.Population+" (HTMX)", http.MethodGet, "/recovery?population="+url.QueryEscape(p.Population), nil, true)
	if step(r.Body) != "request" {
		return rows, fmt.Errorf("step-1 fragment expected, got status %d step %q", r.Status, step(r.Body))
	}
	f := &flow{b: b, person: i, pop: p.Population}
	form := b.recoveryForm(p.Population)
	form.Set("input", p.Identifier)
	form.Set("consent", "yes")
	r = req("POST /recovery/request (HTMX)", http.MethodPost, "/recovery/request", form, true)
	if f.id = b.flowID(); step(r.Body) != "code" || f.id == "" {
		return rows, fmt.Errorf("step 2 expected, got status %d step %q", r.Status, step(r.Body))
	}
	m, ok := sk.wait(f.id, 60*time.Second)
	if !ok {
		return rows, fmt.Errorf("no code mail for the flow within 60 s")
	}
	form = b.recoveryForm(p.Population)
	form.Set("flow", f.id)
	form.Set("code", m.Code)
	r = req("POST /recovery/code (HTMX)", http.MethodPost, "/recovery/code", form, true)
	if step(r.Body) != "password" {
		return rows, fmt.Errorf("step 3 expected, got status %d step %q", r.Status, step(r.Body))
	}
	pw, err := newPassword(sc, p)
	if err != nil {
		return rows, err
	}
	form = b.recoveryForm(p.Population)
	form.Set("password", pw)
	form.Set("confirm", pw)
	r = req("POST /recovery/password (HTMX)", http.MethodPost, "/recovery/password", form, true)
	if step(r.Body) != "done" {
		return rows, fmt.Errorf("step 4 expected, got status %d step %q", r.Status, step(r.Body))
	}
	al.setPassword(p.ID, pw)
	return rows, lastErr
}
