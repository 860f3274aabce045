package activation_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/activation"
	"github.com/sesame-edu/sesame/server/audit"
	"github.com/sesame-edu/sesame/server/policy"
	"github.com/sesame-edu/sesame/server/ratelimit"
	"github.com/sesame-edu/sesame/server/refusal"
	"github.com/sesame-edu/sesame/server/store"
	"github.com/sesame-edu/sesame/server/store/storetest"
)

// These tests drive the activation wizard through its service, without
// HTTP: every transition in order, every out-of-turn post and every
// refusal, against the real store (the embedded server, opened the
// production way), the real throttles and mail budget, and a clock the test
// moves. Only the outbound side effects (the confirmation mails and the
// audit lines) are recorded by fakes: the service hands them over and never
// reads them back, so a recorder shows exactly what was handed over, which
// is what the tests assert.

const (
	provisional = "Provisoire-4821-kx" // meets the rules, so that "same" can be told
	newPassword = "violon-cactus-maree-47"
	charter     = "2025-09"
	domain      = "college.example.fr"
)

// start is 10:00 in Paris on a whole hour, so that a test starting here
// owns a fresh mail-budget window (windows are whole hours).
var start = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

// clock is the injected time; the store reads it too, so flow expiry
// follows it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// mailbox records the confirmation mails the service queues.
type mailbox struct {
	mu    sync.Mutex
	links []activation.LinkNotice
}

func (m *mailbox) VerifyAddress(_ context.Context, n activation.LinkNotice) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.links = append(m.links, n)
	return nil
}

// to returns the mails sent to an address, oldest first.
func (m *mailbox) to(addr string) []activation.LinkNotice {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []activation.LinkNotice
	for _, n := range m.links {
		if n.To == addr {
			out = append(out, n)
		}
	}
	return out
}

// of counts the mails sent for an account.
func (m *mailbox) of(id string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, l := range m.links {
		if l.Account.ID == id {
			n++
		}
	}
	return n
}

// auditLog records audit events.
type auditLog struct {
	mu     sync.Mutex
	events []audit.Event
}

func (a *auditLog) Record(_ context.Context, e audit.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
	return nil
}

func (a *auditLog) has(accountID, action, outcome string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.ContainsFunc(a.events, func(e audit.Event) bool {
		return e.AccountID == accountID && e.Action == action && e.Outcome == outcome
	})
}

// env is one store and one activation service over it. A top-level test
// opens one env (the store takes ~100 ms to open) and its subtests share
// it, each with its own accounts and client address.
type env struct {
	st     *store.Store
	svc    *activation.Service
	clock  *clock
	mail   *mailbox
	audit  *auditLog
	hasher *account.Hasher
	paris  *time.Location
	ip     int
}

// populations are the school's: pupils without a mailbox, permanent staff
// with one, contract staff whose mailbox must be redirected.
var populations = map[string]activation.Population{
	"eleves":       {Policy: policy.Default()},
	"personnels":   {Policy: policy.Default(), MailboxDomain: domain, MailboxPattern: "prenom.nom"},
	"contractuels": {Policy: policy.Default(), MailboxDomain: domain, MailboxPattern: "prenom.nom", RedirectMandate: true},
}

// newEnv wires the service as main.go does, with a cheap hasher and the
// test's clock.
func newEnv(t *testing.T) *env {
	t.Helper()
	st := storetest.New(t)
	c := &clock{t: start}
	st.SetClock(c.Now)
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{st: st, clock: c, mail: &mailbox{}, audit: &auditLog{}, paris: paris,
		hasher: account.NewHasher(account.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)}
	guard := account.NewGuard(
		ratelimit.NewThrottle(st.Limits(), 5, 30*time.Second, 15*time.Minute, c.Now),
		ratelimit.NewThrottle(st.Limits(), 20, 30*time.Second, 15*time.Minute, c.Now),
		ratelimit.NewThrottle(st.Limits(), 50, 30*time.Second, 15*time.Minute, c.Now),
		[]byte("signin-key-signin-key-signin-key"))
	base, _ := url.Parse("https://sesame.example.fr")
	e.svc = activation.New(activation.Deps{
		Store: st.Activations(), Hasher: e.hasher, Guard: guard, Limiter: ratelimit.New(st.Limits(), c.Now),
		Notifier: e.mail, Audit: e.audit,
		Population: func(key string) activation.Population { return populations[key] },
		Charter:    func() string { return charter },
		Key:        []byte("activation-key-activation-key-ac"), BaseURL: base, Location: paris,
		Now: c.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	return e
}

// nextIP gives each subtest its own client address, so that no throttle
// per source carries over from one subtest to the next.
func (e *env) nextIP() string {
	e.ip++
	return fmt.Sprintf("198.51.100.%d", e.ip)
}

// account stores a pending pupil account holding the provisional password
// of its school letter; fields set in a override the defaults.
func (e *env) account(t *testing.T, a account.Account) account.Account {
	t.Helper()
	if a.Identifier == "" {
		a.Identifier = strings.ToUpper(a.ID)
	}
	if a.FirstName == "" {
		a.FirstName = "Jeanne"
	}
	if a.LastName == "" {
		a.LastName = "Martin"
	}
	if a.Population == "" {
		a.Population = "eleves"
	}
	if a.Status == "" {
		a.Status = account.StatusPending
	}
	hash, err := e.hasher.Hash(provisional)
	if err != nil {
		t.Fatal(err)
	}
	a.PasswordHash, a.PasswordSetBy = hash, account.SetByImport
	a.CreatedAt, a.UpdatedAt = e.clock.Now().Add(-24*time.Hour), e.clock.Now().Add(-24*time.Hour)
	if err := e.st.Accounts().CreateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	return a
}

// endOfDay is 23:59:59 in Paris on the day of t there.
func (e *env) endOfDay(t time.Time) time.Time {
	p := t.In(e.paris)
	return time.Date(p.Year(), p.Month(), p.Day(), 23, 59, 59, 0, e.paris)
}

func (e *env) load(t *testing.T, id, token string) activation.Flow {
	t.Helper()
	f, err := e.svc.Load(t.Context(), id, token)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return f
}

// stored reads a flow as the store holds it, whatever the browser.
func (e *env) stored(t *testing.T, id string) activation.Flow {
	t.Helper()
	f, err := e.st.Activations().GetActivation(t.Context(), id)
	if err != nil {
		t.Fatalf("GetActivation: %v", err)
	}
	return f
}

// lastLink returns the flow id and token of the last link mailed to addr.
func (e *env) lastLink(t *testing.T, addr string) (activation.LinkNotice, string, string) {
	t.Helper()
	ns := e.mail.to(addr)
	if len(ns) == 0 {
		t.Fatalf("no link mailed to %s", addr)
	}
	n := ns[len(ns)-1]
	u, err := url.Parse(n.Link)
	if err != nil || u.Host != "sesame.example.fr" || u.Path != "/activation/confirm" {
		t.Fatalf("link %q", n.Link)
	}
	return n, u.Query().Get("flow"), u.Query().Get("token")
}

func rescueOf(id string) string   { return "secours." + id + "@example.org" }
func redirectOf(id string) string { return "renvoi." + id + "@example.org" }

// begin passes step 1 with the provisional password.
func (e *env) begin(t *testing.T, identifier string) (activation.Flow, string) {
	t.Helper()
	f, token, res, wait, err := startStep(e.svc, identifier, provisional, "fr", e.nextIP())
	if err != nil || res != activation.Started || wait != 0 || token == "" {
		t.Fatalf("Start(%s) = %v, wait %v, %v; want Started", identifier, res, wait, err)
	}
	return f, token
}

// drive takes an account's flow from step 1 to the state target, the
// shortest way: no directory, a redirection to another address.
func (e *env) drive(t *testing.T, id string, target activation.State) (activation.Flow, string) {
	t.Helper()
	ctx := t.Context()
	f, token := e.begin(t, id)
	for f.State != target {
		from := f.State
		var err error
		switch f.State {
		case activation.StateRescue:
			if err = e.svc.SetRescue(ctx, f, rescueOf(id)); err == nil {
				f = e.load(t, f.ID, token)
			}
		case activation.StateRescueSent:
			_, flow, tok := e.lastLink(t, rescueOf(id))
			f, err = e.svc.Confirm(ctx, flow, tok)
		case activation.StateCharter:
			f, err = e.svc.AcceptCharter(ctx, f)
		case activation.StateDirectory:
			f, err = e.svc.ChooseDirectory(ctx, f, false)
		case activation.StateRedirect:
			var l refusal.List
			f, l, err = e.svc.SetRedirect(ctx, f, true, redirectOf(id), false)
			if err == nil && l != nil {
				err = fmt.Errorf("refused: %v", l)
			}
		case activation.StateRedirSent:
			_, flow, tok := e.lastLink(t, redirectOf(id))
			f, err = e.svc.Confirm(ctx, flow, tok)
		default:
			t.Fatalf("no way from %q to %q", f.State, target)
		}
		if err != nil {
			t.Fatalf("driving %s from %q: %v", id, from, err)
		}
	}
	return f, token
}

func TestActivationSteps(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	// Every transition in order, for a population without a mailbox and
	// one with: the states visited are the wizard's Steps, and the last
	// step writes everything the flow recorded to the account at once.
	for _, tt := range []struct {
		name, id, population string
		hasMailbox           bool
		mailbox              string
	}{
		{"without mailbox", "a101", "eleves", false, ""},
		{"with mailbox", "a102", "personnels", true, "jeanne.martin@" + domain},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.account(t, account.Account{ID: tt.id, Population: tt.population})
			visited := []activation.Step{activation.StepStart}
			see := func(f activation.Flow) {
				if s := f.State.Step(); visited[len(visited)-1] != s {
					visited = append(visited, s)
				}
			}

			began := e.clock.Now()
			f, token, res, wait, err := startStep(e.svc, " "+strings.ToUpper(tt.id)+" ", provisional, "fr", e.nextIP())
			if err != nil || res != activation.Started || wait != 0 || token == "" {
				t.Fatalf("Start = %v, wait %v, %v; want Started", res, wait, err)
			}
			if f.State != activation.StateRescue || f.AccountID != tt.id || f.Version != 1 || !f.ExpiresAt.Equal(e.endOfDay(began)) {
				t.Errorf("started flow: state %q, account %q, version %d, expires %v; want rescue, %s, 1, %v", f.State, f.AccountID, f.Version, f.ExpiresAt, tt.id, e.endOfDay(began))
			}
			see(f)
			if _, err := e.svc.Load(ctx, f.ID, "another-browser"); !errors.Is(err, activation.ErrNotFound) {
				t.Errorf("Load with another token: err = %v, want ErrNotFound", err)
			}

			// The rescue address is trimmed, mailed a link, and the flow
			// waits for it.
			e.clock.Advance(time.Minute)
			rescue := "Jeanne." + tt.id + "@Example.org"
			if err := e.svc.SetRescue(ctx, f, "  "+rescue+" "); err != nil {
				t.Fatalf("SetRescue: %v", err)
			}
			f = e.load(t, f.ID, token)
			if f.State != activation.StateRescueSent || f.RescueEmail != rescue || f.RescueConfirmed {
				t.Errorf("after SetRescue: state %q, address %q, confirmed %v; want rescue_sent, %q, false", f.State, f.RescueEmail, f.RescueConfirmed, rescue)
			}
			see(f)
			n, linkFlow, linkToken := e.lastLink(t, rescue)
			if n.Purpose != "rescue" || n.Account.ID != tt.id || n.Lang != "fr" || !n.Deadline.Equal(e.endOfDay(e.clock.Now())) || linkFlow != f.ID || linkToken == "" {
				t.Errorf("rescue mail = %+v; want purpose rescue, account %s, deadline %v, a link to flow %s", n, tt.id, e.endOfDay(e.clock.Now()), f.ID)
			}

			// Mail scanners open links: LinkInfo says what the link would
			// confirm and uses nothing.
			for range 2 {
				if addr, purpose, err := e.svc.LinkInfo(ctx, linkFlow, linkToken); err != nil || addr != rescue || purpose != "rescue" {
					t.Errorf("LinkInfo = %q, %q, %v; want %q, rescue, nil", addr, purpose, err, rescue)
				}
			}
			if got := e.stored(t, f.ID); got.Version != f.Version {
				t.Errorf("LinkInfo wrote the flow: version %d → %d", f.Version, got.Version)
			}
			e.clock.Advance(time.Minute)
			f, err = e.svc.Confirm(ctx, linkFlow, linkToken)
			if err != nil || f.State != activation.StateCharter || !f.RescueConfirmed || f.RescueToken != "" {
				t.Fatalf("Confirm = state %q, confirmed %v, token kept %v, %v; want charter, true, false, nil", f.State, f.RescueConfirmed, f.RescueToken != "", err)
			}
			see(f)
			if _, err := e.svc.Confirm(ctx, linkFlow, linkToken); !errors.Is(err, activation.ErrNotFound) {
				t.Errorf("the link used twice: err = %v, want ErrNotFound", err)
			}
			// The link may be confirmed on a phone; the browser reads its
			// flow again.
			f = e.load(t, f.ID, token)

			e.clock.Advance(time.Minute)
			charterAt := e.clock.Now()
			f, err = e.svc.AcceptCharter(ctx, f)
			if err != nil || f.State != activation.StateDirectory || f.CharterVersion != charter || !f.CharterAt.Equal(charterAt) {
				t.Fatalf("AcceptCharter = state %q, version %q at %v, %v; want directory, %s at %v", f.State, f.CharterVersion, f.CharterAt, err, charter, charterAt)
			}
			see(f)

			e.clock.Advance(time.Minute)
			directoryAt := e.clock.Now()
			f, err = e.svc.ChooseDirectory(ctx, f, true)
			want := activation.StatePassword
			if tt.hasMailbox {
				want = activation.StateRedirect
			}
			if err != nil || f.State != want || !f.Directory || !f.DirectoryAt.Equal(directoryAt) {
				t.Fatalf("ChooseDirectory = state %q, directory %v at %v, %v; want %q, true at %v", f.State, f.Directory, f.DirectoryAt, err, want, directoryAt)
			}
			see(f)

			var redirectTo string
			if tt.hasMailbox {
				e.clock.Advance(time.Minute)
				redirectTo = redirectOf(tt.id)
				var l refusal.List
				f, l, err = e.svc.SetRedirect(ctx, f, true, " "+redirectTo+" ", true)
				if err != nil || l != nil || f.State != activation.StateRedirSent || f.RedirectTo != redirectTo || !f.RedirectCopy {
					t.Fatalf("SetRedirect = state %q, to %q, copy %v, refusals %v, %v; want redirect_sent, %s, true", f.State, f.RedirectTo, f.RedirectCopy, l, err, redirectTo)
				}
				see(f)
				n, linkFlow, linkToken := e.lastLink(t, redirectTo)
				if n.Purpose != "redirect" || n.Account.ID != tt.id || !n.Deadline.Equal(e.endOfDay(e.clock.Now())) {
					t.Errorf("redirect mail = %+v; want purpose redirect, account %s", n, tt.id)
				}
				if addr, purpose, err := e.svc.LinkInfo(ctx, linkFlow, linkToken); err != nil || addr != redirectTo || purpose != "redirect" {
					t.Errorf("LinkInfo = %q, %q, %v; want %q, redirect, nil", addr, purpose, err, redirectTo)
				}
				f, err = e.svc.Confirm(ctx, linkFlow, linkToken)
				if err != nil || f.State != activation.StatePassword || f.RedirectToken != "" {
					t.Fatalf("Confirm = state %q, token kept %v, %v; want password", f.State, f.RedirectToken != "", err)
				}
				see(f)
			}

			e.clock.Advance(time.Minute)
			doneAt := e.clock.Now()
			pr, err := e.svc.SetPassword(ctx, f, newPassword, newPassword)
			if err != nil || pr.Refusals != nil {
				t.Fatalf("SetPassword = %v, %v; want no refusal", pr.Refusals, err)
			}
			visited = append(visited, activation.StepDone)
			if !slices.Equal(visited, activation.Steps(tt.hasMailbox)) {
				t.Errorf("steps visited %v, want Steps(%v) = %v", visited, tt.hasMailbox, activation.Steps(tt.hasMailbox))
			}

			got, err := e.st.Accounts().GetAccount(ctx, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			ok, _, _ := e.hasher.Verify(got.PasswordHash, newPassword)
			for _, c := range []struct {
				field     string
				got, want any
			}{
				{"new password", ok, true},
				{"PasswordSetBy", got.PasswordSetBy, account.SetByUser},
				{"PasswordChangedAt", got.PasswordChangedAt, doneAt},
				{"Status", got.Status, account.StatusActive},
				{"ActivatedAt", got.ActivatedAt, doneAt},
				{"Email", got.Email, rescue},
				{"EmailSetBy", got.EmailSetBy, account.SetByUser},
				{"CharterVersion", got.CharterVersion, charter},
				{"CharterAt", got.CharterAt, charterAt},
				{"Directory", got.Directory, true},
				{"DirectoryAt", got.DirectoryAt, directoryAt},
				{"RedirectTo", got.RedirectTo, redirectTo},
				{"RedirectCopy", got.RedirectCopy, tt.hasMailbox},
				{"Mailbox", got.Mailbox, tt.mailbox},
				{"result's Mailbox", pr.Account.Mailbox, tt.mailbox},
				{"result's Status", pr.Account.Status, account.StatusActive},
				{"result's Email", pr.Account.Email, rescue},
			} {
				if tm, isTime := c.want.(time.Time); isTime {
					if !c.got.(time.Time).Equal(tm) {
						t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
					}
				} else if c.got != c.want {
					t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
				}
			}
			if _, err := e.svc.Load(ctx, f.ID, token); !errors.Is(err, activation.ErrNotFound) {
				t.Errorf("flow after the last step: err = %v, want ErrNotFound (deleted)", err)
			}
			if !e.audit.has(tt.id, "activation.done", "ok") {
				t.Error("no audit of the activation")
			}
			// The account is active: neither password opens the wizard again.
			for _, pw := range []string{newPassword, provisional} {
				if _, _, res, _, err := startStep(e.svc, tt.id, pw, "fr", e.nextIP()); err != nil || res != activation.WrongPair {
					t.Errorf("Start after activation = %v, %v; want WrongPair", res, err)
				}
			}
		})
	}
}

func TestActivationStart(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	// A wrong pair is refused the same way whatever was wrong, and an
	// activated account's right password is refused like a wrong one:
	// « déjà activé » would confirm it to whoever typed it.
	t.Run("wrong pair", func(t *testing.T) {
		e.account(t, account.Account{ID: "b201"})
		e.account(t, account.Account{ID: "b202", Status: account.StatusActive})
		for _, tt := range []struct {
			name, identifier, password string
			audited                    string // the outcome the security review reads
		}{
			{"unknown identifier", "B299", provisional, ""},
			{"wrong provisional password", "B201", "Mauvais-mot-2025", "wrong_pair"},
			{"activated account, right password", "B202", provisional, "already_active"},
			// The review must tell a stranger's guesses from the owner typing
			// their real password.
			{"activated account, wrong password", "B202", "Mauvais-mot-2025", "wrong_pair"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				f, token, res, wait, err := startStep(e.svc, tt.identifier, tt.password, "fr", e.nextIP())
				if err != nil || res != activation.WrongPair || wait != 0 || token != "" || f.ID != "" {
					t.Errorf("Start = flow %q, token %q, %v, wait %v, %v; want no flow, WrongPair, no wait", f.ID, token, res, wait, err)
				}
				if tt.audited != "" && !e.audit.has(strings.ToLower(tt.identifier), "activation.start", tt.audited) {
					t.Errorf("no audit %q", tt.audited)
				}
			})
		}
		// The wrong pair created nothing: the right one starts a new flow.
		if f, _ := e.begin(t, "B201"); f.Version != 1 || f.State != activation.StateRescue {
			t.Errorf("first right pair: version %d, state %q; want a new flow at rescue", f.Version, f.State)
		}
	})

	// After the free tries each wrong pair doubles the wait, for known and
	// unknown identifiers alike; while it runs even the right pair waits.
	t.Run("throttled", func(t *testing.T) {
		type outcome struct {
			res  activation.StartOutcome
			wait time.Duration
		}
		want := []outcome{
			{activation.WrongPair, 0}, {activation.WrongPair, 0}, {activation.WrongPair, 0}, {activation.WrongPair, 0}, {activation.WrongPair, 0},
			{activation.WrongPair, 30 * time.Second},
			{activation.Throttled, 30 * time.Second},
		}
		for _, tt := range []struct {
			name, identifier string
			known            bool
		}{
			{"known identifier", "B210", true},
			{"unknown identifier", "B298", false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if tt.known {
					e.account(t, account.Account{ID: strings.ToLower(tt.identifier)})
				}
				ip := e.nextIP()
				var got []outcome
				for range want {
					_, _, res, wait, err := startStep(e.svc, tt.identifier, "Mauvais-mot-2025", "fr", ip)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, outcome{res, wait})
				}
				if !slices.Equal(got, want) {
					t.Errorf("wrong pairs: %v, want %v", got, want)
				}
				e.clock.Advance(29 * time.Second)
				if _, _, res, wait, err := startStep(e.svc, tt.identifier, provisional, "fr", ip); err != nil || res != activation.Throttled || wait != time.Second {
					t.Errorf("right pair while throttled = %v, wait %v, %v; want Throttled, 1s", res, wait, err)
				}
				e.clock.Advance(time.Second)
				wantRes := map[bool]activation.StartOutcome{true: activation.Started, false: activation.WrongPair}[tt.known]
				if _, _, res, _, err := startStep(e.svc, tt.identifier, provisional, "fr", ip); err != nil || res != wantRes {
					t.Errorf("right pair after the wait = %v, %v; want %v", res, err, wantRes)
				}
			})
		}
	})

	// Coming back on another device resumes the flow where it stopped and
	// binds it to the new browser; the old one loses it.
	t.Run("resume", func(t *testing.T) {
		e.account(t, account.Account{ID: "b220"})
		f, oldToken := e.drive(t, "b220", activation.StateCharter)
		g, token := e.begin(t, "B220")
		if g.ID != f.ID || g.State != activation.StateCharter || g.RescueEmail != rescueOf("b220") || !g.RescueConfirmed || token == oldToken {
			t.Errorf("resumed flow: id %q, state %q, rescue %q confirmed %v; want %q, charter, %s confirmed", g.ID, g.State, g.RescueEmail, g.RescueConfirmed, f.ID, rescueOf("b220"))
		}
		if _, err := e.svc.Load(ctx, f.ID, oldToken); !errors.Is(err, activation.ErrNotFound) {
			t.Errorf("Load with the first device's token: err = %v, want ErrNotFound", err)
		}
		e.load(t, f.ID, token)
	})

	// Restart deletes the flow; step 1 then begins a new one.
	t.Run("restart", func(t *testing.T) {
		e.account(t, account.Account{ID: "b230"})
		f, token := e.drive(t, "b230", activation.StateDirectory)
		if err := e.svc.Restart(ctx, f); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Load(ctx, f.ID, token); !errors.Is(err, activation.ErrNotFound) {
			t.Errorf("Load after Restart: err = %v, want ErrNotFound", err)
		}
		if g, _ := e.begin(t, "B230"); g.Version != 1 || g.State != activation.StateRescue || g.RescueEmail != "" || g.CharterVersion != "" {
			t.Errorf("flow after Restart: version %d, state %q, rescue %q, charter %q; want a new flow at rescue", g.Version, g.State, g.RescueEmail, g.CharterVersion)
		}
	})
}

func TestActivationLinks(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	// A link is valid until 23:59:59 of the day it was sent, in the
	// school's time zone, whatever the server's; the flow ends then too.
	t.Run("deadline", func(t *testing.T) {
		paris := e.paris
		for i, tt := range []struct {
			name     string
			now      time.Time
			deadline time.Time
		}{
			{"winter morning", time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC), time.Date(2025, 3, 10, 23, 59, 59, 0, paris)},
			{"23:30 in Paris, 22:30 UTC", time.Date(2025, 3, 10, 22, 30, 0, 0, time.UTC), time.Date(2025, 3, 10, 23, 59, 59, 0, paris)},
			{"00:30 in Paris, still the day before in UTC", time.Date(2025, 3, 10, 23, 30, 0, 0, time.UTC), time.Date(2025, 3, 11, 23, 59, 59, 0, paris)},
			{"summer time, 23:30 in Paris", time.Date(2025, 7, 1, 21, 30, 0, 0, time.UTC), time.Date(2025, 7, 1, 23, 59, 59, 0, paris)},
		} {
			t.Run(tt.name, func(t *testing.T) {
				id := fmt.Sprintf("d30%d", i)
				e.account(t, account.Account{ID: id})
				e.clock.Set(tt.now)
				f, _ := e.drive(t, id, activation.StateRescueSent)
				n, linkFlow, linkToken := e.lastLink(t, rescueOf(id))
				if !n.Deadline.Equal(tt.deadline) || !f.LinkDeadline.Equal(tt.deadline) || !f.ExpiresAt.Equal(tt.deadline) {
					t.Errorf("deadlines: mail %v, link %v, flow %v; want %v", n.Deadline, f.LinkDeadline, f.ExpiresAt, tt.deadline)
				}
				e.clock.Set(tt.deadline.Add(-time.Second))
				if _, _, err := e.svc.LinkInfo(ctx, linkFlow, linkToken); err != nil {
					t.Errorf("LinkInfo a second before: %v", err)
				}
				e.clock.Set(tt.deadline)
				if _, _, err := e.svc.LinkInfo(ctx, linkFlow, linkToken); !errors.Is(err, activation.ErrNotFound) {
					t.Errorf("LinkInfo at the deadline: err = %v, want ErrNotFound", err)
				}
				if _, err := e.svc.Confirm(ctx, linkFlow, linkToken); !errors.Is(err, activation.ErrNotFound) {
					t.Errorf("Confirm at the deadline: err = %v, want ErrNotFound", err)
				}
			})
		}
		e.clock.Set(time.Date(2025, 7, 2, 9, 0, 0, 0, time.UTC))
	})

	// A link opens only its own flow, with its own token, and only while
	// the flow waits for it.
	t.Run("wrong links", func(t *testing.T) {
		e.account(t, account.Account{ID: "d310"})
		f, _ := e.drive(t, "d310", activation.StateRescueSent)
		_, linkFlow, linkToken := e.lastLink(t, rescueOf("d310"))
		for _, tt := range []struct{ name, flow, token string }{
			{"wrong token", linkFlow, strings.Repeat("0", len(linkToken))},
			{"no token", linkFlow, ""},
			{"unknown flow", "0123456789abcdef0123456789abcdef", linkToken},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if _, _, err := e.svc.LinkInfo(ctx, tt.flow, tt.token); !errors.Is(err, activation.ErrNotFound) {
					t.Errorf("LinkInfo: err = %v, want ErrNotFound", err)
				}
				if _, err := e.svc.Confirm(ctx, tt.flow, tt.token); !errors.Is(err, activation.ErrNotFound) {
					t.Errorf("Confirm: err = %v, want ErrNotFound", err)
				}
			})
		}
		if got := e.stored(t, f.ID); got.Version != f.Version || got.State != activation.StateRescueSent {
			t.Errorf("wrong links wrote the flow: version %d → %d, state %q", f.Version, got.Version, got.State)
		}
	})

	// Giving another rescue address voids the link sent to the first.
	t.Run("new address", func(t *testing.T) {
		e.account(t, account.Account{ID: "d320"})
		f, token := e.drive(t, "d320", activation.StateRescueSent)
		_, firstFlow, firstToken := e.lastLink(t, rescueOf("d320"))
		if err := e.svc.SetRescue(ctx, f, "autre.d320@example.org"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Confirm(ctx, firstFlow, firstToken); !errors.Is(err, activation.ErrNotFound) {
			t.Errorf("first link after a new address: err = %v, want ErrNotFound", err)
		}
		_, flow, tok := e.lastLink(t, "autre.d320@example.org")
		if g, err := e.svc.Confirm(ctx, flow, tok); err != nil || g.State != activation.StateCharter || g.RescueEmail != "autre.d320@example.org" {
			t.Errorf("second link = state %q, address %q, %v; want charter, autre.d320@example.org", g.State, g.RescueEmail, err)
		}
		e.load(t, f.ID, token)
	})
}

func TestActivationRedirect(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	// The redirection step refuses what cannot be a redirection, skips
	// the link for the already confirmed rescue address, and is
	// mandatory for contract staff.
	for i, tt := range []struct {
		name, population string
		redirect         bool
		to               string // "rescue" stands for the account's rescue address, in capitals
		want             refusal.List
		state            activation.State
		redirectTo       string
		mailed           bool
	}{
		{"optional, declined", "personnels", false, "", nil, activation.StatePassword, "", false},
		{"optional, declined with an address", "personnels", false, "ailleurs@example.org", nil, activation.StatePassword, "", false},
		{"mandatory, declined", "contractuels", false, "", refusal.List{{Field: "to", Reason: refusal.Invalid}}, activation.StateRedirect, "", false},
		{"mandatory, declined with an address", "contractuels", false, "ailleurs@example.org", nil, activation.StateRedirSent, "ailleurs@example.org", true},
		{"not an address", "personnels", true, "pas-une-adresse", refusal.List{{Field: "to", Reason: refusal.Invalid}}, activation.StateRedirect, "", false},
		{"to the mailbox itself", "personnels", true, "Jeanne.Martin@College.Example.FR", refusal.List{{Field: "to", Reason: refusal.Loop}}, activation.StateRedirect, "", false},
		{"to another mailbox of the school", "contractuels", true, "secretariat@" + domain, refusal.List{{Field: "to", Reason: refusal.Loop}}, activation.StateRedirect, "", false},
		{"to the confirmed rescue address", "personnels", true, "rescue", nil, activation.StatePassword, "rescue", false},
		{"to another address", "personnels", true, " ailleurs@example.org ", nil, activation.StateRedirSent, "ailleurs@example.org", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("r40%d", i)
			e.account(t, account.Account{ID: id, Population: tt.population})
			f, _ := e.drive(t, id, activation.StateRedirect)
			to, redirectTo := tt.to, tt.redirectTo
			if to == "rescue" {
				to, redirectTo = strings.ToUpper(rescueOf(id)), strings.ToUpper(rescueOf(id))
			}
			mails := e.mail.of(id)
			g, l, err := e.svc.SetRedirect(ctx, f, tt.redirect, to, true)
			if err != nil || !slices.Equal(l, tt.want) {
				t.Fatalf("SetRedirect = %v, %v; want %v, nil", l, err, tt.want)
			}
			stored := e.stored(t, f.ID)
			if stored.State != tt.state || stored.RedirectTo != redirectTo {
				t.Errorf("stored flow: state %q, redirect to %q; want %q, %q", stored.State, stored.RedirectTo, tt.state, redirectTo)
			}
			if tt.want != nil && stored.Version != f.Version {
				t.Errorf("a refusal wrote the flow: version %d → %d", f.Version, stored.Version)
			}
			if tt.want == nil && g.State != tt.state {
				t.Errorf("returned flow: state %q, want %q", g.State, tt.state)
			}
			if sent := e.mail.of(id) - mails; sent != map[bool]int{true: 1, false: 0}[tt.mailed] {
				t.Errorf("%d mails sent, want mailed %v", sent, tt.mailed)
			} else if tt.mailed {
				if n, _, _ := e.lastLink(t, redirectTo); n.Purpose != "redirect" {
					t.Errorf("mail purpose %q, want redirect", n.Purpose)
				}
			}
		})
	}

	// An account is sent five confirmation links an hour, rescue and
	// redirection together; the sixth is refused before anything is
	// mailed, and the next hour may mail again.
	t.Run("mail budget", func(t *testing.T) {
		e.clock.Set(e.clock.Now().Truncate(time.Hour).Add(time.Hour))
		e.account(t, account.Account{ID: "r420", Population: "personnels"})
		f, token := e.drive(t, "r420", activation.StateRedirSent) // two links: rescue, redirection
		for i := range 3 {
			addr := fmt.Sprintf("ailleurs%d.r420@example.org", i)
			var l refusal.List
			var err error
			if f, l, err = e.svc.SetRedirect(ctx, f, true, addr, false); err != nil || l != nil || f.State != activation.StateRedirSent {
				t.Fatalf("redirection %d: state %q, %v, %v", i+3, f.State, l, err)
			}
		}
		_, l, err := e.svc.SetRedirect(ctx, f, true, "sixieme.r420@example.org", false)
		if err != nil || !slices.Equal(l, refusal.List{{Field: "to", Reason: refusal.Budget}}) {
			t.Errorf("sixth link = %v, %v; want a budget refusal", l, err)
		}
		if n := e.mail.of("r420"); n != 5 || len(e.mail.to("sixieme.r420@example.org")) != 0 {
			t.Errorf("%d links mailed, want 5 and none to the sixth address", n)
		}
		if got := e.stored(t, f.ID); got.Version != f.Version || got.RedirectTo != "ailleurs2.r420@example.org" {
			t.Errorf("refused redirection wrote the flow: version %d → %d, to %q", f.Version, got.Version, got.RedirectTo)
		}
		if !e.audit.has("r420", "activation.mail", "budget_spent") {
			t.Error("no audit of the spent budget")
		}
		e.clock.Advance(time.Hour)
		if _, l, err := e.svc.SetRedirect(ctx, e.load(t, f.ID, token), true, "sixieme.r420@example.org", false); err != nil || l != nil {
			t.Errorf("next hour = %v, %v; want the link mailed", l, err)
		}
	})

	t.Run("mail budget of the rescue address", func(t *testing.T) {
		e.clock.Set(e.clock.Now().Truncate(time.Hour).Add(time.Hour))
		e.account(t, account.Account{ID: "r430"})
		f, token := e.begin(t, "R430")
		for i := range 5 {
			if err := e.svc.SetRescue(ctx, e.load(t, f.ID, token), fmt.Sprintf("essai%d.r430@example.org", i)); err != nil {
				t.Fatalf("rescue address %d: %v", i+1, err)
			}
		}
		before := e.stored(t, f.ID)
		if err := e.svc.SetRescue(ctx, e.load(t, f.ID, token), "essai5.r430@example.org"); !errors.Is(err, activation.ErrMailBudget) {
			t.Errorf("sixth rescue address: err = %v, want ErrMailBudget", err)
		}
		if got := e.stored(t, f.ID); got.Version != before.Version || got.RescueEmail != "essai4.r430@example.org" || e.mail.of("r430") != 5 {
			t.Errorf("refused rescue address: version %d → %d, address %q, %d mails; want unchanged, 5 mails", before.Version, got.Version, got.RescueEmail, e.mail.of("r430"))
		}
	})
}

func TestActivationPassword(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.account(t, account.Account{ID: "p501"})
	f, _ := e.drive(t, "p501", activation.StatePassword)

	// Every problem of the new password is reported at once, and nothing
	// is written: the flow waits, the account stays pending.
	for _, tt := range []struct {
		name, password, confirm string
		want                    refusal.List
	}{
		{"too short", "court", "court", refusal.List{{Field: "password", Reason: refusal.Rules}}},
		{"the person's name", "martin-martin-2025", "martin-martin-2025", refusal.List{{Field: "password", Reason: refusal.Rules}}},
		{"mismatch", newPassword, newPassword + "!", refusal.List{{Field: "confirm", Reason: refusal.Mismatch}}},
		{"rules and mismatch at once", "court", "autre", refusal.List{{Field: "password", Reason: refusal.Rules}, {Field: "confirm", Reason: refusal.Mismatch}}},
		{"the provisional password", provisional, provisional, refusal.List{{Field: "password", Reason: refusal.Same}}},
		{"the provisional password, mismatched", provisional, "autre", refusal.List{{Field: "confirm", Reason: refusal.Mismatch}, {Field: "password", Reason: refusal.Same}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.svc.SetPassword(ctx, f, tt.password, tt.confirm)
			if err != nil || !slices.Equal(res.Refusals, tt.want) {
				t.Fatalf("SetPassword = %v, %v; want %v", res.Refusals, err, tt.want)
			}
			if len(res.Rules) == 0 {
				t.Error("no checklist returned with the refusals")
			}
			if got := e.stored(t, f.ID); got.Version != f.Version || got.State != activation.StatePassword {
				t.Errorf("stored flow: version %d, state %q; want %d, password", got.Version, got.State, f.Version)
			}
			acc, err := e.st.Accounts().GetAccount(ctx, "p501")
			if err != nil {
				t.Fatal(err)
			}
			if ok, _, _ := e.hasher.Verify(acc.PasswordHash, provisional); !ok || acc.Status != account.StatusPending || acc.Email != "" {
				t.Errorf("account changed: provisional kept %v, status %q, email %q", ok, acc.Status, acc.Email)
			}
		})
	}
}

// TestActivationMailbox activates people whose names give the same
// institutional address: each gets the next free number.
func TestActivationMailbox(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if ok, err := e.st.Activations().ClaimMailbox(ctx, "paul.roux@"+domain, "ancien"); err != nil || !ok {
		t.Fatalf("ClaimMailbox = %v, %v", ok, err)
	}
	for i, tt := range []struct {
		first, last, want string
	}{
		{"Marie", "Dupont", "marie.dupont@" + domain},
		{"Marie", "Dupont", "marie.dupont2@" + domain},
		{"Marie", "Dupônt", "marie.dupont3@" + domain},
		{"Marie-Hélène", "Dupont", "marie-helene.dupont@" + domain},
		{"Paul", "Roux", "paul.roux2@" + domain}, // paul.roux is a former colleague's
		{"李", "王", "m605@" + domain},             // no letter to keep: the identifier
	} {
		t.Run(tt.first+" "+tt.last, func(t *testing.T) {
			id := fmt.Sprintf("m60%d", i)
			e.account(t, account.Account{ID: id, FirstName: tt.first, LastName: tt.last, Population: "personnels"})
			f, _ := e.drive(t, id, activation.StatePassword)
			res, err := e.svc.SetPassword(ctx, f, newPassword, newPassword)
			if err != nil || res.Refusals != nil {
				t.Fatalf("SetPassword = %v, %v", res.Refusals, err)
			}
			acc, err := e.st.Accounts().GetAccount(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if acc.Mailbox != tt.want || res.Account.Mailbox != tt.want {
				t.Errorf("mailbox = %q (result %q), want %q", acc.Mailbox, res.Account.Mailbox, tt.want)
			}
		})
	}
}

// TestActivationWrongState posts every step to a flow in every other
// state: each refuses with ErrState and writes and mails nothing.
func TestActivationWrongState(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.account(t, account.Account{ID: "w701", Population: "personnels"})

	// One flow is taken through every state; a copy is kept at each.
	flows := map[activation.State]activation.Flow{}
	for _, s := range []activation.State{
		activation.StateRescue, activation.StateRescueSent, activation.StateCharter, activation.StateDirectory,
		activation.StateRedirect, activation.StateRedirSent, activation.StatePassword,
	} {
		f, _ := e.drive(t, "w701", s)
		flows[s] = f
	}
	// "done" lives only between the last step's first write and the
	// flow's deletion; a copy of the password flow stands for it.
	done := flows[activation.StatePassword]
	done.State = "done"
	flows["done"] = done

	steps := []struct {
		name  string
		legal []activation.State
		post  func(activation.Flow) error
	}{
		{"SetRescue", []activation.State{activation.StateRescue, activation.StateRescueSent}, func(f activation.Flow) error {
			return e.svc.SetRescue(ctx, f, "x.w701@example.org")
		}},
		{"AcceptCharter", []activation.State{activation.StateCharter}, func(f activation.Flow) error {
			_, err := e.svc.AcceptCharter(ctx, f)
			return err
		}},
		{"ChooseDirectory", []activation.State{activation.StateDirectory}, func(f activation.Flow) error {
			_, err := e.svc.ChooseDirectory(ctx, f, true)
			return err
		}},
		{"SetRedirect", []activation.State{activation.StateRedirect, activation.StateRedirSent}, func(f activation.Flow) error {
			_, _, err := e.svc.SetRedirect(ctx, f, true, "x.w701@example.org", false)
			return err
		}},
		{"SetPassword", []activation.State{activation.StatePassword}, func(f activation.Flow) error {
			_, err := e.svc.SetPassword(ctx, f, newPassword, newPassword)
			return err
		}},
	}
	mails := e.mail.of("w701")
	for _, step := range steps {
		for _, s := range []activation.State{
			activation.StateRescue, activation.StateRescueSent, activation.StateCharter, activation.StateDirectory,
			activation.StateRedirect, activation.StateRedirSent, activation.StatePassword, "done",
		} {
			if slices.Contains(step.legal, s) {
				continue
			}
			t.Run(step.name+" on "+string(s), func(t *testing.T) {
				before := e.stored(t, flows[s].ID)
				if err := step.post(flows[s]); !errors.Is(err, activation.ErrState) {
					t.Errorf("err = %v, want ErrState", err)
				}
				if after := e.stored(t, flows[s].ID); after.Version != before.Version {
					t.Errorf("flow written: version %d → %d", before.Version, after.Version)
				}
			})
		}
	}
	acc, err := e.st.Accounts().GetAccount(ctx, "w701")
	if err != nil {
		t.Fatal(err)
	}
	if e.mail.of("w701") != mails || acc.Status != account.StatusPending {
		t.Errorf("refused steps: %d mails sent, account %q; want none, pending", e.mail.of("w701")-mails, acc.Status)
	}
}

func TestStateStep(t *testing.T) {
	for _, tt := range []struct {
		state activation.State
		want  activation.Step
	}{
		{"", activation.StepStart},
		{activation.StateRescue, activation.StepRescue},
		{activation.StateRescueSent, activation.StepRescue},
		{activation.StateCharter, activation.StepCharter},
		{activation.StateDirectory, activation.StepDirectory},
		{activation.StateRedirect, activation.StepRedirect},
		{activation.StateRedirSent, activation.StepRedirect},
		{activation.StatePassword, activation.StepPassword},
	} {
		t.Run(string(tt.state), func(t *testing.T) {
			if got := tt.state.Step(); got != tt.want {
				t.Errorf("State(%q).Step() = %q, want %q", tt.state, got, tt.want)
			}
		})
	}
}

func TestSteps(t *testing.T) {
	for _, tt := range []struct {
		hasMailbox bool
		want       []activation.Step
	}{
		{false, []activation.Step{"start", "rescue", "charter", "directory", "password", "done"}},
		{true, []activation.Step{"start", "rescue", "charter", "directory", "redirect", "password", "done"}},
	} {
		t.Run(fmt.Sprint("mailbox ", tt.hasMailbox), func(t *testing.T) {
			if got := activation.Steps(tt.hasMailbox); !slices.Equal(got, tt.want) {
				t.Errorf("Steps(%v) = %v, want %v", tt.hasMailbox, got, tt.want)
			}
		})
	}
}

// startStep runs the "start" step and spreads its result, for tables that
// compare every part of it.
func startStep(svc *activation.Service, identifier, password, lang, ip string) (activation.Flow, string, activation.StartOutcome, time.Duration, error) {
	r, err := svc.Start(context.Background(), identifier, password, lang, ip)
	return r.Flow, r.Token, r.Outcome, r.RetryAfter, err
}
