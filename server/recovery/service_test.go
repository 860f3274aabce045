package recovery_test

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
	"github.com/sesame-edu/sesame/server/audit"
	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/policy"
	"github.com/sesame-edu/sesame/server/ratelimit"
	"github.com/sesame-edu/sesame/server/recovery"
	"github.com/sesame-edu/sesame/server/refusal"
	"github.com/sesame-edu/sesame/server/store"
	"github.com/sesame-edu/sesame/server/store/storetest"
)

// These tests drive the recovery state machine through its service, without
// HTTP: every transition and every refusal, against the real store (the
// embedded server, opened the production way), the real rate limits and
// throttles, and a clock the test moves. Only the outbound side effects
// (mails queued, sessions ended, audit lines) are recorded by fakes: the
// service hands them over and never reads them back, so a recorder shows
// exactly what was handed over, which is what the tests assert.

const (
	oldPassword = "Ancien-mot-de-passe-1"
	newPassword = "violon-cactus-maree-47"
)

// start is a Monday morning on a whole hour, so that a test starting here
// owns a fresh rate-limit window (windows are whole hours).
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

// NextHour moves to the start of the next hour: a subtest counting rate
// limits then owns its window whatever the earlier subtests spent.
func (c *clock) NextHour() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Truncate(time.Hour).Add(time.Hour)
}

// mailbox records the mails the service queues.
type mailbox struct {
	mu        sync.Mutex
	codes     []recovery.CodeNotice
	reminders []recovery.ReminderNotice
	changed   []recovery.ChangedNotice
	guardians []recovery.GuardianCodeNotice
	activate  []recovery.ActivateFirstNotice
	// failCodes makes the next queueing of codes fail, as a full or
	// unreachable outbox would.
	failCodes int
	// read, when set, is called with each code as it is queued: the
	// person reading the mail at once, before the dispatcher's next write.
	read func(recovery.CodeNotice)
}

func (m *mailbox) RecoveryCode(_ context.Context, n recovery.CodeNotice) error {
	m.mu.Lock()
	if m.failCodes > 0 {
		m.failCodes--
		m.mu.Unlock()
		return errors.New("outbox unavailable")
	}
	m.codes = append(m.codes, n)
	read := m.read
	m.mu.Unlock()
	if read != nil {
		read(n)
	}
	return nil
}

func (m *mailbox) GuardianCode(_ context.Context, n recovery.GuardianCodeNotice) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.guardians = append(m.guardians, n)
	return nil
}

func (m *mailbox) IdentifierReminder(_ context.Context, n recovery.ReminderNotice) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reminders = append(m.reminders, n)
	return nil
}

func (m *mailbox) ActivateFirst(_ context.Context, n recovery.ActivateFirstNotice) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.activate = append(m.activate, n)
	return nil
}

// activateTo returns the activation notices mailed to an address.
func (m *mailbox) activateTo(to string) []recovery.ActivateFirstNotice {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []recovery.ActivateFirstNotice
	for _, n := range m.activate {
		if n.To == to {
			out = append(out, n)
		}
	}
	return out
}

func (m *mailbox) PasswordChanged(_ context.Context, n recovery.ChangedNotice) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.changed = append(m.changed, n)
	return nil
}

// codesOf returns the codes mailed for a flow, oldest first.
func (m *mailbox) codesOf(flowID string) []recovery.CodeNotice {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []recovery.CodeNotice
	for _, n := range m.codes {
		if n.FlowID == flowID {
			out = append(out, n)
		}
	}
	return out
}

// codesTo counts the codes mailed to an address.
func (m *mailbox) codesTo(to string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, c := range m.codes {
		if c.To == to {
			n++
		}
	}
	return n
}

func (m *mailbox) remindersTo(to string) []recovery.ReminderNotice {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []recovery.ReminderNotice
	for _, r := range m.reminders {
		if r.To == to {
			out = append(out, r)
		}
	}
	return out
}

func (m *mailbox) changedOf(id string) []recovery.ChangedNotice {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []recovery.ChangedNotice
	for _, c := range m.changed {
		if c.Account.ID == id {
			out = append(out, c)
		}
	}
	return out
}

// sessions records which accounts had their sessions ended.
type sessions struct {
	mu      sync.Mutex
	revoked []string
}

func (s *sessions) RevokeAll(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = append(s.revoked, id)
	return nil
}

func (s *sessions) of(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.revoked {
		if r == id {
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

// has reports whether an event with this action and outcome was recorded
// for the flow.
func (a *auditLog) has(flow, action, outcome string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.ContainsFunc(a.events, func(e audit.Event) bool {
		return e.Flow == flow && e.Action == action && e.Outcome == outcome
	})
}

// env is one store and one recovery service over it. A top-level test opens
// one env (the store takes ~100 ms to open) and its subtests share it, each
// with its own accounts and identifiers.
type env struct {
	st       *store.Store
	svc      *recovery.Service
	clock    *clock
	mail     *mailbox
	sessions *sessions
	audit    *auditLog
	hasher   *account.Hasher
	guard    *account.Guard
	ip       int
}

// newEnv wires the service as main.go does, with a cheap hasher and the
// test's clock.
func newEnv(t *testing.T) *env {
	t.Helper()
	st := storetest.New(t)
	c := &clock{t: start}
	st.SetClock(c.Now)
	e := &env{
		st: st, clock: c, mail: &mailbox{}, sessions: &sessions{}, audit: &auditLog{},
		hasher: account.NewHasher(account.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2),
	}
	e.guard = account.NewGuard(
		ratelimit.NewThrottle(st.Limits(), 5, 30*time.Second, 15*time.Minute, c.Now),
		ratelimit.NewThrottle(st.Limits(), 20, 30*time.Second, 15*time.Minute, c.Now),
		ratelimit.NewThrottle(st.Limits(), 50, 30*time.Second, 15*time.Minute, c.Now),
		[]byte("signin-key-signin-key-signin-key"))
	base, _ := url.Parse("https://sesame.example.fr")
	e.svc = recovery.New(recovery.Deps{
		Store: st.Flows(), Accounts: st.Accounts(), Sessions: e.sessions, Notifier: e.mail, Audit: e.audit,
		Hasher: e.hasher, Limiter: ratelimit.New(st.Limits(), c.Now), Throttles: e.guard,
		Key:    []byte("recovery-key-recovery-key-recove"),
		Policy: func(string) policy.Policy { return policy.Default() },
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil)), Now: c.Now,
	}, recovery.Config{CodeTTL: 15 * time.Minute, FlowTTL: time.Hour, MaxAttempts: 5,
		ResendCooldown: time.Minute, CodesPerHour: 5, BaseURL: base})
	return e
}

// nextIP gives each flow its own client address, so that no throttle per
// source carries over from one subtest to the next.
func (e *env) nextIP() string {
	e.ip++
	return fmt.Sprintf("198.51.100.%d", e.ip)
}

// account stores an active parent account whose password was set by the
// import a day ago; fields set in a override the defaults.
func (e *env) account(t *testing.T, a account.Account) account.Account {
	t.Helper()
	if a.Identifier == "" {
		a.Identifier = strings.ToUpper(a.ID)
	}
	if a.FirstName == "" {
		a.FirstName = "Anne"
	}
	if a.LastName == "" {
		a.LastName = "Durand"
	}
	if a.Population == "" {
		a.Population = "parents"
	}
	if a.Status == "" {
		a.Status = account.StatusActive
	}
	hash, err := e.hasher.Hash(oldPassword)
	if err != nil {
		t.Fatal(err)
	}
	day := e.clock.Now().Add(-24 * time.Hour)
	a.PasswordHash, a.PasswordSetBy, a.CreatedAt, a.UpdatedAt = hash, account.SetByImport, day, day
	if err := e.st.Accounts().CreateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	return a
}

// request submits step 1 for a password and checks it was accepted.
func (e *env) request(t *testing.T, population, input string) (recovery.Flow, string) {
	t.Helper()
	f, token, err := e.svc.SubmitRequest(t.Context(), recovery.RequestForm{
		Kind: recovery.KindPassword, Population: population, Input: input, Lang: "fr", IP: e.nextIP(), Consent: true,
	})
	if err != nil {
		t.Fatalf("SubmitRequest(%q): %v", input, err)
	}
	return f, token
}

// dispatch runs the dispatcher's work for a flow, as Run would, and returns
// the flow as it is now stored.
func (e *env) dispatch(t *testing.T, id string) recovery.Flow {
	t.Helper()
	if err := e.svc.Process(t.Context(), id); err != nil {
		t.Fatalf("Process: %v", err)
	}
	return e.get(t, id)
}

func (e *env) get(t *testing.T, id string) recovery.Flow {
	t.Helper()
	f, err := e.svc.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return f
}

// gone checks that a flow no longer exists.
func (e *env) gone(t *testing.T, id string) {
	t.Helper()
	if f, err := e.svc.Get(t.Context(), id); !errors.Is(err, recovery.ErrNotFound) {
		t.Errorf("flow still there: %+v, err = %v; want ErrNotFound", f, err)
	}
}

// codeSent requests a code for input and returns the dispatched flow and
// the one code mailed for it.
func (e *env) codeSent(t *testing.T, input string) (recovery.Flow, string) {
	t.Helper()
	f, _ := e.request(t, "", input)
	f = e.dispatch(t, f.ID)
	codes := e.mail.codesOf(f.ID)
	if len(codes) != 1 {
		t.Fatalf("%d codes mailed for %q, want 1", len(codes), input)
	}
	return f, codes[0].Code
}

// verified takes input's flow past the code step.
func (e *env) verified(t *testing.T, input string) recovery.Flow {
	t.Helper()
	f, code := e.codeSent(t, input)
	res, err := e.svc.SubmitCode(t.Context(), f, code)
	if err != nil || res.Outcome != recovery.CodeOK {
		t.Fatalf("SubmitCode(right code) = %v, %v; want CodeOK", res.Outcome, err)
	}
	return res.Flow
}

// passwordIs reports whether an account's stored password is pw.
func (e *env) passwordIs(t *testing.T, id, pw string) bool {
	t.Helper()
	a, err := e.st.Accounts().GetAccount(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	ok, _, err := e.hasher.Verify(a.PasswordHash, pw)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// otherCode returns a well-formed code different from code.
func otherCode(code string) string {
	if code == "222222" {
		return "333333"
	}
	return "222222"
}

// unmet reports whether the rule key was evaluated and not met.
func unmet(rules []policy.Rule, key string) bool {
	return slices.ContainsFunc(rules, func(r policy.Rule) bool { return r.Key == key && !r.Met })
}

func TestRecoveryRequest(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	// Step 1 only records the request; the dispatcher, after the answer
	// has gone, finds the account, draws a code and mails it. The right
	// code, typed loosely, verifies the flow and binds it to a new token.
	t.Run("code mailed", func(t *testing.T) {
		for _, tt := range []struct {
			name, id, email, input string
		}{
			{"by identifier", "p101", "anne.p101@example.fr", " P101 "},
			{"by address", "p102", "anne.p102@example.fr", "Anne.P102@Example.FR"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				e.account(t, account.Account{ID: tt.id, Email: tt.email})
				now := e.clock.Now()
				f, token := e.request(t, "", tt.input)
				if f.State != recovery.StateCodeSent || f.Step() != recovery.StepCode || !f.Pending || f.Kind != recovery.KindPassword {
					t.Errorf("requested flow: state %q, step %q, pending %v, kind %q; want code_sent, code, true, password", f.State, f.Step(), f.Pending, f.Kind)
				}
				if !f.CodeExpiresAt.Equal(now.Add(15*time.Minute)) || !f.ExpiresAt.Equal(now.Add(time.Hour)) {
					t.Errorf("deadlines: code %v, flow %v; want now+15m, now+1h", f.CodeExpiresAt, f.ExpiresAt)
				}
				if len(f.Accounts) != 0 || f.CodeHash != "" || len(e.mail.codesOf(f.ID)) != 0 {
					t.Errorf("step 1 did the dispatcher's work: accounts %v, code hash %q, mails %d", f.Accounts, f.CodeHash, len(e.mail.codesOf(f.ID)))
				}
				if _, err := e.svc.Load(ctx, f.ID, token); err != nil {
					t.Errorf("Load with the browser's token: %v", err)
				}
				if _, err := e.svc.Load(ctx, f.ID, "another-browser"); !errors.Is(err, recovery.ErrNotFound) {
					t.Errorf("Load with another token: err = %v, want ErrNotFound", err)
				}

				f = e.dispatch(t, f.ID)
				if f.State != recovery.StateCodeSent || f.Pending || f.Request != "" || !slices.Equal(f.Accounts, []string{tt.id}) || f.CodeHash == "" {
					t.Errorf("dispatched flow: state %q, pending %v, request %q, accounts %v, code hash set %v; want code_sent, false, \"\", [%s], true",
						f.State, f.Pending, f.Request, f.Accounts, f.CodeHash != "", tt.id)
				}
				codes := e.mail.codesOf(f.ID)
				if len(codes) != 1 {
					t.Fatalf("%d codes mailed, want 1", len(codes))
				}
				n := codes[0]
				if n.To != tt.email || n.Lang != "fr" || n.ValidFor != 15*time.Minute || len(n.Accounts) != 1 || n.Accounts[0].ID != tt.id || !strings.HasPrefix(n.Key, "code|"+f.ID+"|") {
					t.Errorf("code notice = %+v; want to %s, fr, 15m, account %s, key code|%s|…", n, tt.email, tt.id, f.ID)
				}
				if c, ok := recovery.NormaliseCode(n.Code); !ok || c != n.Code {
					t.Errorf("mailed code %q is not a code", n.Code)
				}
				link, err := url.Parse(n.Link)
				if err != nil || link.Host != "sesame.example.fr" || link.Path != paths.RecoveryCode || link.Query().Get("flow") != f.ID || link.Query().Get("code") != n.Code {
					t.Errorf("link %q does not open this flow with this code", n.Link)
				}

				// The scan or another instance may hand the flow over again:
				// it is no longer pending, so nothing more is mailed.
				e.dispatch(t, f.ID)
				if got := len(e.mail.codesOf(f.ID)); got != 1 {
					t.Errorf("second dispatch: %d codes mailed in all, want 1", got)
				}

				typed := strings.ToLower(n.Code[:3]) + " " + n.Code[3:]
				// Typed in the browser that asked (its cookie loads the flow).
				if f, err = e.svc.Load(ctx, f.ID, token); err != nil {
					t.Fatal(err)
				}
				res, err := e.svc.SubmitCode(ctx, f, typed)
				if err != nil || res.Outcome != recovery.CodeOK {
					t.Fatalf("SubmitCode(%q) = %v, %v; want CodeOK", typed, res.Outcome, err)
				}
				if g := res.Flow; g.State != recovery.StateVerified || g.Step() != recovery.StepPassword || g.Chosen != tt.id || g.CodeHash != "" || g.Attempts != 0 {
					t.Errorf("verified flow: state %q, step %q, chosen %q, code hash %q, attempts %d", g.State, g.Step(), g.Chosen, g.CodeHash, g.Attempts)
				}
				if res.Token == "" || res.Token == token {
					t.Errorf("token after the code = %q: want a new one", res.Token)
				}
				if _, err := e.svc.Load(ctx, f.ID, res.Token); err != nil {
					t.Errorf("Load with the new token: %v", err)
				}
				if _, err := e.svc.Load(ctx, f.ID, token); !errors.Is(err, recovery.ErrNotFound) {
					t.Errorf("Load with the token of step 1: err = %v, want ErrNotFound", err)
				}
				if !e.audit.has(f.ID, "recovery.code_ok", "ok") {
					t.Error("no audit of the code")
				}
			})
		}
	})

	// Whatever matches or not, step 1 answers with the same flow and the
	// dispatcher, finding nobody to write to, leaves it waiting for a code
	// that does not exist: the person cannot tell.
	t.Run("no mail", func(t *testing.T) {
		for _, tt := range []struct {
			name       string
			acc        *account.Account
			population string
			input      string
		}{
			{"unknown identifier", nil, "", "X999"},
			{"unknown address", nil, "", "personne@example.fr"},
			{"pending account", &account.Account{ID: "p111", Email: "anne.p111@example.fr", Status: account.StatusPending}, "", "P111"},
			{"pending account by address", &account.Account{ID: "p112", Email: "anne.p112@example.fr", Status: account.StatusPending}, "", "anne.p112@example.fr"},
			{"no address", &account.Account{ID: "p113"}, "", "P113"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if tt.acc != nil {
					e.account(t, *tt.acc)
				}
				now := e.clock.Now()
				f, _ := e.request(t, tt.population, tt.input)
				if f.State != recovery.StateCodeSent || f.Step() != recovery.StepCode || !f.Pending ||
					!f.CodeExpiresAt.Equal(now.Add(15*time.Minute)) || !f.ExpiresAt.Equal(now.Add(time.Hour)) {
					t.Errorf("requested flow differs from one that matched: %+v", f)
				}
				f = e.dispatch(t, f.ID)
				if f.State != recovery.StateCodeSent || f.Pending || f.Request != "" || len(f.Accounts) != 0 || f.CodeHash != "" {
					t.Errorf("dispatched flow: state %q, pending %v, request %q, accounts %v, code hash %q; want code_sent, false, \"\", none, none",
						f.State, f.Pending, f.Request, f.Accounts, f.CodeHash)
				}
				if n := len(e.mail.codesOf(f.ID)); n != 0 {
					t.Errorf("%d codes mailed", n)
				}
				if tt.acc != nil && tt.acc.Email != "" {
					if n := e.mail.codesTo(tt.acc.Email); n != 0 {
						t.Errorf("%d codes mailed to %s", n, tt.acc.Email)
					}
				}
				res, err := e.svc.SubmitCode(ctx, f, "222222")
				if err != nil || res.Outcome != recovery.CodeWrong || res.Remaining != 4 {
					t.Errorf("SubmitCode = %v (%d left), %v; want CodeWrong (4 left) as for a real account", res.Outcome, res.Remaining, err)
				}
			})
		}
	})

	// Back, then « Envoyer » again: the same request from the same browser
	// within the resend delay returns the flow unchanged (no new token, no
	// new code); after the delay, or for another input, it is a new request.
	t.Run("sent again within the resend delay", func(t *testing.T) {
		e.account(t, account.Account{ID: "p141", Email: "anne.p141@example.fr"})
		f, _ := e.request(t, "parents", "P141")
		f = e.dispatch(t, f.ID)
		again := func(input string) (recovery.Flow, string) {
			g, tok, err := e.svc.SubmitRequest(ctx, recovery.RequestForm{Kind: recovery.KindPassword, Population: "parents",
				Input: input, Lang: "fr", IP: e.nextIP(), Consent: true, Current: f})
			if err != nil {
				t.Fatal(err)
			}
			return g, tok
		}
		e.clock.Advance(30 * time.Second)
		if g, tok := again(" p141 "); g.ID != f.ID || tok != "" || g.CodeHash != f.CodeHash {
			t.Errorf("within the delay: flow %s (was %s), token %q; want the same flow and no token", g.ID, f.ID, tok)
		}
		if g, tok := again("P142"); g.ID == f.ID || tok == "" {
			t.Error("another input within the delay returned the same flow")
		}
		e.clock.Advance(31 * time.Second)
		if g, tok := again("P141"); g.ID == f.ID || tok == "" {
			t.Error("after the delay, the same input returned the same flow")
		}
		if n := len(e.mail.codesOf(f.ID)); n != 1 {
			t.Errorf("%d codes for the first flow; want 1", n)
		}
	})

	// A pending account has no password to reset: its address, when it has
	// one, is told how to activate it (issue 16: « Un code vous a été
	// envoyé » and nothing ever came). The flow looks like any other.
	t.Run("pending account is told to activate", func(t *testing.T) {
		for _, tt := range []struct{ name, id, email, input string }{
			{"by identifier", "p121", "anne.p121@example.fr", "P121"},
			{"by address", "p122", "anne.p122@example.fr", "Anne.P122@example.fr"},
			{"in another population", "p123", "anne.p123@example.fr", "P123"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				e.account(t, account.Account{ID: tt.id, Email: tt.email, Status: account.StatusPending, Population: "personnels"})
				f, _ := e.request(t, "parents", tt.input)
				f = e.dispatch(t, f.ID)
				if f.State != recovery.StateCodeSent || f.Pending || len(f.Accounts) != 0 || f.CodeHash != "" {
					t.Errorf("dispatched flow: %+v; want one waiting for a code like any other", f)
				}
				got := e.mail.activateTo(tt.email)
				if len(got) != 1 || len(got[0].Accounts) != 1 || got[0].Accounts[0].ID != tt.id ||
					len(got[0].Links) != 1 || !strings.Contains(got[0].Links[0], "/activation?identifier="+strings.ToUpper(tt.id)) {
					t.Fatalf("activation notices to %s: %+v; want one for %s with its link", tt.email, got, tt.id)
				}
				if n := e.mail.codesTo(tt.email); n != 0 {
					t.Errorf("%d codes mailed to a pending account", n)
				}
				// Processing the flow again (another instance, a crash)
				// mails nothing more.
				if err := e.svc.Process(ctx, f.ID); err != nil || len(e.mail.activateTo(tt.email)) != 1 {
					t.Errorf("after a second pass: %v, %d notices", err, len(e.mail.activateTo(tt.email)))
				}
			})
		}
	})

	// The population chosen on the chooser picks the words and the help
	// desk, never which accounts are found: a parent who clicked « Je suis
	// élève » still receives a code.
	t.Run("another population is still found", func(t *testing.T) {
		e.account(t, account.Account{ID: "p131", Email: "anne.p131@example.fr", Population: "parents"})
		for _, input := range []string{"P131", "anne.p131@example.fr"} {
			f, _ := e.request(t, "eleves", input)
			f = e.dispatch(t, f.ID)
			if len(f.Accounts) != 1 || f.Accounts[0] != "p131" || len(e.mail.codesOf(f.ID)) != 1 {
				t.Errorf("%s from the students' population: accounts %v, %d codes; want p131 and one code", input, f.Accounts, len(e.mail.codesOf(f.ID)))
			}
		}
	})

	// A forgotten identifier mails the identifiers of the active accounts
	// at the address, with a link to reset each, and the flow ends there.
	t.Run("identifier reminder", func(t *testing.T) {
		const family = "famille.r200@example.fr"
		e.account(t, account.Account{ID: "r202", Email: family, FirstName: "Hugo"})
		e.account(t, account.Account{ID: "r201", Email: family, FirstName: "Léa"})
		e.account(t, account.Account{ID: "r203", Email: family, Status: account.StatusPending})
		f, _, err := e.svc.SubmitRequest(ctx, recovery.RequestForm{Kind: recovery.KindIdentifier, Input: " Famille.R200@Example.fr", Lang: "fr", IP: e.nextIP(), Consent: true})
		if err != nil {
			t.Fatal(err)
		}
		if f.State != recovery.StateReminded || f.Step() != recovery.StepDone {
			t.Errorf("reminder flow: state %q, step %q; want reminded, done", f.State, f.Step())
		}
		if err := e.svc.Process(ctx, f.ID); err != nil {
			t.Fatal(err)
		}
		rs := e.mail.remindersTo(family)
		if len(rs) != 1 {
			t.Fatalf("%d reminders, want 1", len(rs))
		}
		var ids, linked []string
		for _, a := range rs[0].Accounts {
			ids = append(ids, a.ID)
		}
		for _, l := range rs[0].Links {
			u, err := url.Parse(l)
			if err != nil || u.Path != paths.Recovery {
				t.Errorf("link %q", l)
				continue
			}
			linked = append(linked, u.Query().Get("identifier"))
		}
		if !slices.Equal(ids, []string{"r201", "r202"}) || !slices.Equal(linked, []string{"R201", "R202"}) || rs[0].Key != "reminder|"+f.ID || rs[0].Lang != "fr" {
			t.Errorf("reminder: accounts %v, links to %v, key %q; want [r201 r202] (no pending account), [R201 R202], reminder|%s", ids, linked, rs[0].Key, f.ID)
		}
		e.gone(t, f.ID)
		if !e.audit.has(f.ID, "recovery.reminder_sent", "ok") {
			t.Error("no audit of the reminder")
		}
	})

	t.Run("identifier reminder, unknown address", func(t *testing.T) {
		const nobody = "personne.r210@example.fr"
		f, _, err := e.svc.SubmitRequest(ctx, recovery.RequestForm{Kind: recovery.KindIdentifier, Input: nobody, Lang: "fr", IP: e.nextIP(), Consent: true})
		if err != nil || f.State != recovery.StateReminded {
			t.Fatalf("SubmitRequest = %q, %v; want reminded, nil", f.State, err)
		}
		if err := e.svc.Process(ctx, f.ID); err != nil {
			t.Fatal(err)
		}
		if n := len(e.mail.remindersTo(nobody)); n != 0 {
			t.Errorf("%d reminders to an unknown address", n)
		}
		e.gone(t, f.ID)
	})

	// The form's shape is refused before anything is recorded, every
	// problem at once.
	t.Run("form", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			form recovery.RequestForm
			want refusal.List
		}{
			{"identifier", recovery.RequestForm{Kind: recovery.KindPassword, Input: "P101", Consent: true}, nil},
			{"address", recovery.RequestForm{Kind: recovery.KindPassword, Input: "anne@example.fr", Consent: true}, nil},
			{"reminder", recovery.RequestForm{Kind: recovery.KindIdentifier, Input: "anne@example.fr", Consent: true}, nil},
			{"empty", recovery.RequestForm{Kind: recovery.KindPassword, Consent: true}, refusal.List{{Field: "input", Reason: refusal.Missing}}},
			{"no consent", recovery.RequestForm{Kind: recovery.KindPassword, Input: "P101"}, refusal.List{{Field: "consent", Reason: refusal.Missing}}},
			{"empty, no consent", recovery.RequestForm{Kind: recovery.KindPassword}, refusal.List{{Field: "input", Reason: refusal.Missing}, {Field: "consent", Reason: refusal.Missing}}},
			{"reminder of an identifier", recovery.RequestForm{Kind: recovery.KindIdentifier, Input: "P101", Consent: true}, refusal.List{{Field: "input", Reason: refusal.Invalid}}},
			{"broken address", recovery.RequestForm{Kind: recovery.KindPassword, Input: "anne@@example.fr", Consent: true}, refusal.List{{Field: "input", Reason: refusal.Invalid}}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if got := tt.form.Validate(); !slices.Equal(got, tt.want) {
					t.Errorf("Validate() = %v, want %v", got, tt.want)
				}
			})
		}
	})
}

func TestRecoveryCode(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	// A wrong code spends a try, recorded in the store before the answer.
	t.Run("wrong", func(t *testing.T) {
		e.account(t, account.Account{ID: "c101", Email: "anne.c101@example.fr"})
		f, code := e.codeSent(t, "C101")
		res, err := e.svc.SubmitCode(ctx, f, otherCode(code))
		if err != nil || res.Outcome != recovery.CodeWrong || res.Remaining != 4 {
			t.Fatalf("SubmitCode(wrong) = %v (%d left), %v; want CodeWrong (4 left)", res.Outcome, res.Remaining, err)
		}
		if got := e.get(t, f.ID); got.Attempts != 1 || got.State != recovery.StateCodeSent {
			t.Errorf("stored flow: %d attempts, state %q; want 1, code_sent", got.Attempts, got.State)
		}
		if !e.audit.has(f.ID, "recovery.code_failed", "wrong_code") {
			t.Error("no audit of the wrong code")
		}
	})

	// What cannot be a code is told at once, without spending a try.
	t.Run("malformed", func(t *testing.T) {
		e.account(t, account.Account{ID: "c102", Email: "anne.c102@example.fr"})
		f, _ := e.codeSent(t, "C102")
		for _, typed := range []string{"", "T3A8X", "T3A8XQZ", "T0A8XQ", "TIA8XQ", "T3A8XÉ"} {
			t.Run(typed, func(t *testing.T) {
				res, err := e.svc.SubmitCode(ctx, f, typed)
				if err != nil || res.Outcome != recovery.CodeMalformed || res.Remaining != 5 {
					t.Errorf("SubmitCode(%q) = %v (%d left), %v; want CodeMalformed (5 left)", typed, res.Outcome, res.Remaining, err)
				}
				if got := e.get(t, f.ID); got.Attempts != 0 || got.Version != f.Version {
					t.Errorf("stored flow: %d attempts, version %d; want 0, %d (unchanged)", got.Attempts, got.Version, f.Version)
				}
			})
		}
	})

	// Five wrong codes end the flow; the right code cannot be tried after.
	t.Run("exhausted", func(t *testing.T) {
		e.account(t, account.Account{ID: "c103", Email: "anne.c103@example.fr"})
		f, code := e.codeSent(t, "C103")
		for i, want := range []struct {
			outcome   recovery.CodeOutcome
			remaining int
		}{
			{recovery.CodeWrong, 4}, {recovery.CodeWrong, 3}, {recovery.CodeWrong, 2}, {recovery.CodeWrong, 1}, {recovery.CodeExhausted, 0},
		} {
			res, err := e.svc.SubmitCode(ctx, f, otherCode(code))
			if err != nil || res.Outcome != want.outcome || res.Remaining != want.remaining {
				t.Fatalf("wrong code %d: %v (%d left), %v; want %v (%d left)", i+1, res.Outcome, res.Remaining, err, want.outcome, want.remaining)
			}
			f = res.Flow
		}
		e.gone(t, f.ID)
		if !e.audit.has(f.ID, "recovery.lockout", "too_many_codes") {
			t.Error("no audit of the lockout")
		}
		if _, err := e.svc.SubmitCode(ctx, f, code); !errors.Is(err, recovery.ErrNotFound) {
			t.Errorf("right code after five wrong ones: err = %v, want ErrNotFound", err)
		}
	})

	// Two guesses sent from the same read of the flow (two tabs, two
	// instances) each cost a try: the second write conflicts, reads again
	// and counts on top of the first.
	t.Run("guesses from one read", func(t *testing.T) {
		e.account(t, account.Account{ID: "c104", Email: "anne.c104@example.fr"})
		f, code := e.codeSent(t, "C104")
		for i, remaining := range []int{4, 3} {
			res, err := e.svc.SubmitCode(ctx, f, otherCode(code))
			if err != nil || res.Outcome != recovery.CodeWrong || res.Remaining != remaining {
				t.Errorf("guess %d: %v (%d left), %v; want CodeWrong (%d left)", i+1, res.Outcome, res.Remaining, err, remaining)
			}
		}
		if got := e.get(t, f.ID); got.Attempts != 2 {
			t.Errorf("stored attempts = %d, want 2", got.Attempts)
		}
	})

	// A code is valid for fifteen minutes, to the second; an expired code
	// spends no try.
	t.Run("expiry", func(t *testing.T) {
		for i, tt := range []struct {
			after time.Duration
			want  recovery.CodeOutcome
		}{
			{15*time.Minute - time.Second, recovery.CodeOK},
			{15 * time.Minute, recovery.CodeExpired},
			{59 * time.Minute, recovery.CodeExpired},
		} {
			t.Run(tt.after.String(), func(t *testing.T) {
				id := fmt.Sprintf("c11%d", i)
				e.account(t, account.Account{ID: id, Email: "anne." + id + "@example.fr"})
				f, code := e.codeSent(t, id)
				e.clock.Advance(tt.after)
				res, err := e.svc.SubmitCode(ctx, f, code)
				if err != nil || res.Outcome != tt.want {
					t.Fatalf("SubmitCode after %v = %v, %v; want %v", tt.after, res.Outcome, err, tt.want)
				}
				if tt.want == recovery.CodeExpired {
					if got := e.get(t, f.ID); res.Remaining != 5 || got.Attempts != 0 || got.State != recovery.StateCodeSent {
						t.Errorf("expired code: %d left, stored %d attempts, state %q; want 5, 0, code_sent", res.Remaining, got.Attempts, got.State)
					}
				}
			})
		}
	})

	// A flow lives an hour; then it is gone for every step.
	t.Run("flow expiry", func(t *testing.T) {
		e.account(t, account.Account{ID: "c120", Email: "anne.c120@example.fr"})
		f, token := e.request(t, "", "C120")
		e.dispatch(t, f.ID)
		e.clock.Advance(time.Hour - time.Second)
		if _, err := e.svc.Load(ctx, f.ID, token); err != nil {
			t.Errorf("Load a second before the end: %v", err)
		}
		e.clock.Advance(time.Second)
		if _, err := e.svc.Load(ctx, f.ID, token); !errors.Is(err, recovery.ErrNotFound) {
			t.Errorf("Load after an hour: err = %v, want ErrNotFound", err)
		}
	})

	// A password set since the code was issued (the personal page,
	// another reset) voids the code: it is refused like a wrong one.
	t.Run("password changed since the code", func(t *testing.T) {
		e.account(t, account.Account{ID: "c130", Email: "anne.c130@example.fr"})
		f, code := e.codeSent(t, "C130")
		e.clock.Advance(time.Second)
		if err := e.st.Accounts().SetPassword(ctx, "c130", "elsewhere", e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		res, err := e.svc.SubmitCode(ctx, f, code)
		if err != nil || res.Outcome != recovery.CodeWrong || res.Remaining != 4 {
			t.Errorf("SubmitCode(right code) = %v (%d left), %v; want CodeWrong (4 left)", res.Outcome, res.Remaining, err)
		}
	})

	// Cancel deletes the flow: its code no longer works.
	t.Run("cancel", func(t *testing.T) {
		e.account(t, account.Account{ID: "c140", Email: "anne.c140@example.fr"})
		f, code := e.codeSent(t, "C140")
		if err := e.svc.Cancel(ctx, f); err != nil {
			t.Fatal(err)
		}
		e.gone(t, f.ID)
		if _, err := e.svc.SubmitCode(ctx, f, code); !errors.Is(err, recovery.ErrNotFound) {
			t.Errorf("SubmitCode after Cancel: err = %v, want ErrNotFound", err)
		}
	})

	// When the mail cannot be queued, the flow stays pending with a code
	// nobody received; the dispatcher leaves it alone for five seconds
	// (another one may be queueing that code) and then draws a new one.
	t.Run("mail not queued", func(t *testing.T) {
		e.account(t, account.Account{ID: "c150", Email: "anne.c150@example.fr"})
		f, _ := e.request(t, "", "C150")
		e.mail.mu.Lock()
		e.mail.failCodes = 1
		e.mail.mu.Unlock()
		if err := e.svc.Process(ctx, f.ID); err == nil {
			t.Fatal("Process with the outbox down: no error")
		}
		if got := e.get(t, f.ID); !got.Pending || got.CodeHash == "" {
			t.Fatalf("after a failed queueing: pending %v, code hash set %v; want true, true", got.Pending, got.CodeHash != "")
		}
		e.clock.Advance(4 * time.Second)
		if got := e.dispatch(t, f.ID); !got.Pending || len(e.mail.codesOf(f.ID)) != 0 {
			t.Fatalf("within 5 s: pending %v, %d codes; want true, 0", got.Pending, len(e.mail.codesOf(f.ID)))
		}
		e.clock.Advance(time.Second)
		got := e.dispatch(t, f.ID)
		codes := e.mail.codesOf(f.ID)
		if got.Pending || len(codes) != 1 {
			t.Fatalf("after 5 s: pending %v, %d codes; want false, 1", got.Pending, len(codes))
		}
		if res, err := e.svc.SubmitCode(ctx, got, codes[0].Code); err != nil || res.Outcome != recovery.CodeOK {
			t.Errorf("SubmitCode(new code) = %v, %v; want CodeOK", res.Outcome, err)
		}
	})
}

func TestRecoveryResend(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	// Before the cooldown, a resend says how long to wait and changes
	// nothing.
	t.Run("before the cooldown", func(t *testing.T) {
		e.account(t, account.Account{ID: "s101", Email: "anne.s101@example.fr"})
		f, _ := e.codeSent(t, "S101")
		e.clock.Advance(20 * time.Second)
		wait, err := e.svc.Resend(ctx, f)
		if err != nil || wait != 40*time.Second {
			t.Errorf("Resend after 20 s = %v, %v; want 40s, nil", wait, err)
		}
		if got := e.get(t, f.ID); got.Version != f.Version || got.Pending {
			t.Errorf("stored flow changed: version %d → %d, pending %v", f.Version, got.Version, got.Pending)
		}
		if n := len(e.mail.codesOf(f.ID)); n != 1 {
			t.Errorf("%d codes mailed, want 1", n)
		}
	})

	// After it, the old code stops working at once, the tries start again
	// and the new code works.
	t.Run("after the cooldown", func(t *testing.T) {
		e.account(t, account.Account{ID: "s102", Email: "anne.s102@example.fr"})
		f, oldCode := e.codeSent(t, "S102")
		res, err := e.svc.SubmitCode(ctx, f, otherCode(oldCode))
		if err != nil || res.Outcome != recovery.CodeWrong {
			t.Fatal(res.Outcome, err)
		}
		e.clock.Advance(time.Minute)
		wait, err := e.svc.Resend(ctx, res.Flow)
		if err != nil || wait != 0 {
			t.Fatalf("Resend after 60 s = %v, %v; want 0, nil", wait, err)
		}
		now := e.clock.Now()
		got := e.get(t, f.ID)
		if !got.Pending || got.CodeHash != "" || got.Attempts != 0 || !got.CodeSentAt.Equal(now) || !got.CodeExpiresAt.Equal(now.Add(15*time.Minute)) {
			t.Errorf("after Resend: pending %v, code hash %q, attempts %d, sent %v, expires %v; want true, none, 0, now, now+15m",
				got.Pending, got.CodeHash, got.Attempts, got.CodeSentAt, got.CodeExpiresAt)
		}
		got = e.dispatch(t, f.ID)
		codes := e.mail.codesOf(f.ID)
		// Two draws agree once in 887 million: a new code equal to the old
		// one is a broken generator, not bad luck.
		if len(codes) != 2 || codes[1].Code == oldCode {
			t.Fatalf("codes mailed: %d (new equal to old: %v); want 2 different", len(codes), len(codes) == 2)
		}
		// The replaced code opens nothing and is said to be replaced; it
		// costs no try (issue 16, item 13).
		res, err = e.svc.SubmitCode(ctx, got, oldCode)
		if err != nil || res.Outcome != recovery.CodeReplaced || res.Remaining != 5 {
			t.Errorf("old code after Resend = %v (%d left), %v; want CodeReplaced (5 left)", res.Outcome, res.Remaining, err)
		}
		if stored := e.get(t, f.ID); stored.Attempts != 0 || stored.State != recovery.StateCodeSent {
			t.Errorf("after the replaced code: attempts %d, state %s; want 0, code sent", stored.Attempts, stored.State)
		}
		got = res.Flow
		// A wrong code still costs one.
		if res, err := e.svc.SubmitCode(ctx, got, otherCode(codes[1].Code)); err != nil || res.Outcome != recovery.CodeWrong || res.Remaining != 4 {
			t.Errorf("wrong code after Resend = %v (%d left), %v; want CodeWrong (4 left)", res.Outcome, res.Remaining, err)
		} else {
			got = res.Flow
		}
		if res, err := e.svc.SubmitCode(ctx, got, codes[1].Code); err != nil || res.Outcome != recovery.CodeOK {
			t.Errorf("new code = %v, %v; want CodeOK", res.Outcome, err)
		}
	})

	// Two resends from the same read (a double tap): one new code only,
	// and the loser is told to wait as if it had been sent.
	t.Run("double resend", func(t *testing.T) {
		e.account(t, account.Account{ID: "s103", Email: "anne.s103@example.fr"})
		f, _ := e.codeSent(t, "S103")
		e.clock.Advance(time.Minute)
		if wait, err := e.svc.Resend(ctx, f); err != nil || wait != 0 {
			t.Fatalf("first Resend = %v, %v; want 0, nil", wait, err)
		}
		if wait, err := e.svc.Resend(ctx, f); err != nil || wait != time.Minute {
			t.Errorf("second Resend from the same read = %v, %v; want 1m0s, nil", wait, err)
		}
		e.dispatch(t, f.ID)
		if n := len(e.mail.codesOf(f.ID)); n != 2 {
			t.Errorf("%d codes mailed, want 2 (the first and one resent)", n)
		}
	})

	// The mail can arrive a moment before the dispatcher's last write of
	// the flow: a resend from a page read before that write goes on (it
	// is not a second « Renvoyer »), and sends one new code.
	t.Run("read before the dispatcher's last write", func(t *testing.T) {
		e.account(t, account.Account{ID: "s104", Email: "anne.s104@example.fr"})
		f, _ := e.codeSent(t, "S104")
		later := f
		later.Version++
		if err := e.st.Flows().SaveFlow(ctx, later); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Minute)
		if wait, err := e.svc.Resend(ctx, f); err != nil || wait != 0 {
			t.Fatalf("Resend from the read before = %v, %v; want 0, nil", wait, err)
		}
		if got := e.get(t, f.ID); !got.Pending || got.Version != later.Version+1 || !got.CodeSentAt.Equal(e.clock.Now()) {
			t.Errorf("after Resend: pending %v, version %d (want %d), sent %v", got.Pending, got.Version, later.Version+1, got.CodeSentAt)
		}
		e.dispatch(t, f.ID)
		if n := len(e.mail.codesOf(f.ID)); n != 2 {
			t.Errorf("%d codes mailed, want 2 (the first and one resent)", n)
		}
	})

	// A flow that matched nobody resends like any other, and mails nothing.
	t.Run("unknown identifier", func(t *testing.T) {
		f, _ := e.request(t, "", "S999")
		f = e.dispatch(t, f.ID)
		e.clock.Advance(time.Minute)
		if wait, err := e.svc.Resend(ctx, f); err != nil || wait != 0 {
			t.Errorf("Resend = %v, %v; want 0, nil", wait, err)
		}
		if got := e.dispatch(t, f.ID); got.Pending || len(e.mail.codesOf(f.ID)) != 0 {
			t.Errorf("after Resend: pending %v, %d codes; want false, 0", got.Pending, len(e.mail.codesOf(f.ID)))
		}
	})
}

// TestCodeTypedBeforeTheDispatcherEnds: the mail can reach the person
// before the dispatcher's last write of the flow (its pending mark
// cleared), and a code typed at once — right or wrong — writes the flow
// in between. The dispatcher must still clear the mark, on the flow as it
// now is: a flow left pending would be taken up again by the periodic
// scan, which would mail a second code unasked, to someone already at the
// next step.
func TestCodeTypedBeforeTheDispatcherEnds(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	for i, tt := range []struct {
		name     string
		wrong    bool
		state    recovery.State
		attempts int // tries counted: none once the code has opened the next step
	}{
		{"the right code", false, recovery.StateVerified, 0},
		{"a wrong code", true, recovery.StateCodeSent, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("s2%02d", i)
			e.account(t, account.Account{ID: id, Email: "anne." + id + "@example.fr"})
			f, _ := e.request(t, "", strings.ToUpper(id))
			e.mail.read = func(n recovery.CodeNotice) {
				code := n.Code
				if tt.wrong {
					code = otherCode(code)
				}
				if _, err := e.svc.SubmitCode(ctx, e.get(t, n.FlowID), code); err != nil {
					t.Errorf("SubmitCode: %v", err)
				}
			}
			got := e.dispatch(t, f.ID)
			e.mail.read = nil
			if got.Pending || got.State != tt.state || got.Attempts != tt.attempts {
				t.Errorf("after the dispatcher: pending %v, state %s, attempts %d; want false, %s, %d", got.Pending, got.State, got.Attempts, tt.state, tt.attempts)
			}
			// The periodic scan, later, finds nothing to do.
			e.clock.Advance(10 * time.Second)
			e.dispatch(t, f.ID)
			if n := len(e.mail.codesOf(f.ID)); n != 1 {
				t.Errorf("%d codes mailed, want 1", n)
			}
		})
	}

	// « Renvoyer le code » pressed then (a minute late on the dispatcher's
	// clock): the resend's code is mailed at once by the same dispatch,
	// not by the scan seconds later.
	t.Run("a resend", func(t *testing.T) {
		e.account(t, account.Account{ID: "s298", Email: "anne.s298@example.fr"})
		f, _ := e.request(t, "", "S298")
		e.mail.read = func(n recovery.CodeNotice) {
			e.mail.read = nil
			e.clock.Advance(time.Minute)
			if wait, err := e.svc.Resend(ctx, e.get(t, n.FlowID)); err != nil || wait != 0 {
				t.Errorf("Resend = %v, %v; want 0, nil", wait, err)
			}
		}
		got := e.dispatch(t, f.ID)
		codes := e.mail.codesOf(f.ID)
		if got.Pending || len(codes) != 2 || codes[0].Code == codes[1].Code {
			t.Errorf("after the dispatcher: pending %v, %d codes; want false, 2 different", got.Pending, len(codes))
		}
	})

	// A flow left pending past the code step (a crash before that last
	// write) is cleared by the scan, and mails nothing.
	t.Run("left pending past the code", func(t *testing.T) {
		e.account(t, account.Account{ID: "s299", Email: "anne.s299@example.fr"})
		f := e.verified(t, "S299")
		f.Pending = true
		f.Version++
		if err := e.st.Flows().SaveFlow(ctx, f); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(10 * time.Second)
		if got := e.dispatch(t, f.ID); got.Pending || got.State != recovery.StateVerified {
			t.Errorf("after the scan: pending %v, state %s; want false, verified", got.Pending, got.State)
		}
		if n := len(e.mail.codesOf(f.ID)); n != 1 {
			t.Errorf("%d codes mailed, want 1", n)
		}
	})
}

func TestRecoveryRateLimits(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	// Five requests an hour per typed text; the sixth is refused before
	// anything is recorded, with the time left in the window.
	t.Run("per typed text", func(t *testing.T) {
		e.clock.NextHour()
		e.clock.Advance(10 * time.Minute)
		e.account(t, account.Account{ID: "l101", Email: "anne.l101@example.fr"})
		for i := range 5 {
			if _, _, err := e.svc.SubmitRequest(ctx, recovery.RequestForm{Kind: recovery.KindPassword, Input: "L101", IP: e.nextIP(), Consent: true}); err != nil {
				t.Fatalf("request %d: %v", i+1, err)
			}
		}
		// Case and spaces do not make another text.
		_, _, err := e.svc.SubmitRequest(ctx, recovery.RequestForm{Kind: recovery.KindPassword, Input: " l101", IP: e.nextIP(), Consent: true})
		var rl *recovery.RateLimitedError
		if !errors.As(err, &rl) || rl.RetryAfter != 50*time.Minute {
			t.Fatalf("sixth request: err = %v; want RateLimitedError after 50m", err)
		}
		if _, _, err := e.svc.SubmitRequest(ctx, recovery.RequestForm{Kind: recovery.KindPassword, Input: "anne.l101@example.fr", IP: e.nextIP(), Consent: true}); err != nil {
			t.Errorf("another text for the same account: %v", err)
		}
		e.clock.NextHour()
		if _, _, err := e.svc.SubmitRequest(ctx, recovery.RequestForm{Kind: recovery.KindPassword, Input: "L101", IP: e.nextIP(), Consent: true}); err != nil {
			t.Errorf("next hour: %v", err)
		}
	})

	// Resends count against the same five.
	t.Run("resends", func(t *testing.T) {
		e.clock.NextHour()
		e.account(t, account.Account{ID: "l102", Email: "anne.l102@example.fr"})
		f, _ := e.request(t, "", "L102")
		for i := range 4 {
			e.clock.Advance(time.Minute)
			if wait, err := e.svc.Resend(ctx, e.get(t, f.ID)); err != nil || wait != 0 {
				t.Fatalf("resend %d = %v, %v; want 0, nil", i+1, wait, err)
			}
		}
		e.clock.Advance(time.Minute)
		_, err := e.svc.Resend(ctx, e.get(t, f.ID))
		var rl *recovery.RateLimitedError
		if !errors.As(err, &rl) || rl.RetryAfter != 55*time.Minute {
			t.Errorf("fifth resend: err = %v; want RateLimitedError after 55m", err)
		}
		if !e.audit.has(f.ID, "recovery.resend", "rate_limited") {
			t.Error("no audit of the refused resend")
		}
	})

	// One account receives at most five mails an hour, whatever was typed
	// to reach it and whatever was asked: the sixth request is accepted
	// (step 1 cannot tell) and mails nothing.
	t.Run("per account", func(t *testing.T) {
		e.clock.NextHour()
		const addr = "anne.l103@example.fr"
		e.account(t, account.Account{ID: "l103", Email: addr})
		for i, tt := range []struct {
			kind  recovery.Kind
			input string
			mail  bool
		}{
			{recovery.KindPassword, "L103", true},
			{recovery.KindPassword, "L103", true},
			{recovery.KindPassword, "L103", true},
			{recovery.KindPassword, addr, true},
			{recovery.KindIdentifier, addr, true},
			{recovery.KindPassword, addr, false},
			{recovery.KindIdentifier, addr, false},
		} {
			f, _, err := e.svc.SubmitRequest(ctx, recovery.RequestForm{Kind: tt.kind, Input: tt.input, IP: e.nextIP(), Consent: true})
			if err != nil {
				t.Fatalf("request %d: %v", i+1, err)
			}
			if err := e.svc.Process(ctx, f.ID); err != nil {
				t.Fatalf("request %d: Process: %v", i+1, err)
			}
			mailed := len(e.mail.codesOf(f.ID)) + len(slices.DeleteFunc(e.mail.remindersTo(addr), func(r recovery.ReminderNotice) bool { return r.Key != "reminder|"+f.ID }))
			if mailed != map[bool]int{true: 1, false: 0}[tt.mail] {
				t.Errorf("request %d (%s, %s): %d mails, want mail %v", i+1, tt.kind, tt.input, mailed, tt.mail)
			}
			if !tt.mail {
				if !e.audit.has(f.ID, "recovery.mail", "account_budget_spent") {
					t.Errorf("request %d: no audit of the spent budget", i+1)
				}
				if tt.kind == recovery.KindPassword {
					if got := e.get(t, f.ID); got.Pending || got.CodeHash != "" || got.State != recovery.StateCodeSent {
						t.Errorf("request %d: pending %v, code hash %q, state %q; want a flow waiting without a code", i+1, got.Pending, got.CodeHash, got.State)
					}
				}
			}
		}
		e.clock.NextHour()
		f, _ := e.request(t, "", addr)
		e.dispatch(t, f.ID)
		if n := len(e.mail.codesOf(f.ID)); n != 1 {
			t.Errorf("next hour: %d codes, want 1", n)
		}
	})

	// One address shared by three children receives at most five mails
	// an hour, although each child's own budget has room: the sixth
	// request, by the third child's identifier, mails nothing.
	t.Run("per address", func(t *testing.T) {
		e.clock.NextHour()
		const addr = "famille.l104@example.fr"
		for _, id := range []string{"l104", "l105", "l106"} {
			e.account(t, account.Account{ID: id, Email: addr})
		}
		for i, input := range []string{"L104", "L105", "L106", "L104", "L105", "L106", "L104"} {
			f, _ := e.request(t, "", input)
			e.dispatch(t, f.ID)
			want := map[bool]int{true: 1, false: 0}[i < 5]
			if n := len(e.mail.codesOf(f.ID)); n != want {
				t.Errorf("request %d (%s): %d codes, want %d", i+1, input, n, want)
			}
			if i >= 5 && !e.audit.has(f.ID, "recovery.mail", "address_budget_spent") {
				t.Errorf("request %d: no audit of the address's spent budget", i+1)
			}
		}
	})

	// The notices telling a pending account to activate first count
	// against the address too.
	t.Run("per address, activation notices", func(t *testing.T) {
		e.clock.NextHour()
		const addr = "famille.l107@example.fr"
		for _, id := range []string{"l107", "l108"} {
			e.account(t, account.Account{ID: id, Email: addr, Status: account.StatusPending})
		}
		for _, input := range []string{"L107", "L108", "L107", "L108", "L107", "L108", "L107"} {
			f, _ := e.request(t, "", input)
			e.dispatch(t, f.ID)
		}
		if n := len(e.mail.activateTo(addr)); n != 5 {
			t.Errorf("%d activation notices to one address within the hour, want 5", n)
		}
	})
}

func TestRecoveryPassword(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	// A refused password changes nothing and says every problem at once;
	// on a shared address the account must be chosen first.
	t.Run("refusals", func(t *testing.T) {
		const family = "famille.w400@example.fr"
		e.account(t, account.Account{ID: "w401", Email: family, FirstName: "Léa"})
		e.account(t, account.Account{ID: "w402", Email: family, FirstName: "Hugo"})
		e.account(t, account.Account{ID: "w403", Email: "anne.w403@example.fr"})
		f := e.verified(t, family)
		if f.Chosen != "" || !slices.Equal(f.Accounts, []string{"w401", "w402"}) {
			t.Fatalf("shared-address flow: chosen %q, accounts %v; want none chosen of [w401 w402]", f.Chosen, f.Accounts)
		}
		for _, tt := range []struct {
			name, chosen, password, confirm string
			want                            refusal.List
			unmet                           string // a rule the checklist shows unmet
		}{
			{"no account chosen", "", newPassword, newPassword, refusal.List{{Field: "account", Reason: refusal.Choose}}, ""},
			{"an account outside the flow", "w403", newPassword, newPassword, refusal.List{{Field: "account", Reason: refusal.Choose}}, ""},
			{"too short", "w401", "court", "court", refusal.List{{Field: "password", Reason: refusal.Rules}}, policy.KeyMinLength},
			{"the person's name", "w401", "durand-durand-2025", "durand-durand-2025", refusal.List{{Field: "password", Reason: refusal.Rules}}, policy.KeyNotPersonal},
			{"mismatch", "w401", newPassword, newPassword + "!", refusal.List{{Field: "confirm", Reason: refusal.Mismatch}}, ""},
			{"rules and mismatch at once", "w401", "court", "autre", refusal.List{{Field: "password", Reason: refusal.Rules}, {Field: "confirm", Reason: refusal.Mismatch}}, policy.KeyMinLength},
			// Issue 16, item 5: not only the first problem.
			{"no account, rules and mismatch at once", "", "court", "autre", refusal.List{{Field: "account", Reason: refusal.Choose},
				{Field: "password", Reason: refusal.Rules}, {Field: "confirm", Reason: refusal.Mismatch}}, policy.KeyMinLength},
		} {
			t.Run(tt.name, func(t *testing.T) {
				res, err := e.svc.SubmitPassword(ctx, f, tt.chosen, tt.password, tt.confirm)
				if err != nil || !slices.Equal(res.Refusals, tt.want) {
					t.Fatalf("SubmitPassword = %v, %v; want %v, nil", res.Refusals, err, tt.want)
				}
				if tt.unmet != "" && !unmet(res.Rules, tt.unmet) {
					t.Errorf("rules %+v: %s not shown unmet", res.Rules, tt.unmet)
				}
				if got := e.get(t, f.ID); got.Version != f.Version || got.State != recovery.StateVerified {
					t.Errorf("stored flow: version %d, state %q; want %d, verified (unchanged)", got.Version, got.State, f.Version)
				}
				for _, id := range []string{"w401", "w402", "w403"} {
					if !e.passwordIs(t, id, oldPassword) || e.sessions.of(id) != 0 || len(e.mail.changedOf(id)) != 0 {
						t.Errorf("%s was changed by a refused submit", id)
					}
				}
			})
		}

		// Choosing one account of the address resets that one only.
		res, err := e.svc.SubmitPassword(ctx, f, "w402", newPassword, newPassword)
		if err != nil || res.Refusals != nil || res.Account.ID != "w402" {
			t.Fatalf("SubmitPassword(w402) = %v, %q, %v; want no refusal, w402, nil", res.Refusals, res.Account.ID, err)
		}
		if !e.passwordIs(t, "w402", newPassword) || !e.passwordIs(t, "w401", oldPassword) {
			t.Error("the chosen account's password is not the only one set")
		}
	})

	// Success sets the password, ends every session, forgets the account's
	// failed sign-ins, queues the notice and deletes the flow.
	t.Run("success", func(t *testing.T) {
		const addr = "anne.w410@example.fr"
		acc := e.account(t, account.Account{ID: "w410", Email: addr})
		f := e.verified(t, "W410")
		// A stranger's wrong guesses from the person's own network have
		// throttled the account.
		for range 6 {
			tk, wait, err := e.guard.Attempt(ctx, "W410", []account.Account{acc}, f.IP)
			if err != nil || wait > 0 {
				t.Fatalf("guess: wait %v, %v", wait, err)
			}
			if _, err := tk.Fail(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if _, wait, err := e.guard.Attempt(ctx, "W410", []account.Account{acc}, f.IP); err != nil || wait == 0 {
			t.Fatalf("after six wrong guesses: wait %v, %v; want a wait", wait, err)
		}

		e.clock.Advance(time.Minute)
		now := e.clock.Now()
		res, err := e.svc.SubmitPassword(ctx, f, "", newPassword, newPassword)
		if err != nil || res.Refusals != nil || res.Account.ID != "w410" {
			t.Fatalf("SubmitPassword = %v, %q, %v; want no refusal, w410, nil", res.Refusals, res.Account.ID, err)
		}
		got, err := e.st.Accounts().GetAccount(ctx, "w410")
		if err != nil {
			t.Fatal(err)
		}
		if ok, _, _ := e.hasher.Verify(got.PasswordHash, newPassword); !ok || got.PasswordSetBy != account.SetByUser || !got.PasswordChangedAt.Equal(now) || got.Status != account.StatusActive {
			t.Errorf("account: new password %v, set by %q, changed %v, status %q; want true, user, %v, active", ok, got.PasswordSetBy, got.PasswordChangedAt, got.Status, now)
		}
		if n := e.sessions.of("w410"); n != 1 {
			t.Errorf("sessions revoked %d times, want 1", n)
		}
		if cs := e.mail.changedOf("w410"); len(cs) != 1 || cs[0].To != addr || cs[0].Lang != "fr" || !cs[0].At.Equal(now) {
			t.Errorf("changed notices = %+v; want one to %s at %v", cs, addr, now)
		}
		if _, wait, err := e.guard.Attempt(ctx, "W410", []account.Account{acc}, f.IP); err != nil || wait != 0 {
			t.Errorf("sign-in after the reset: wait %v, %v; want none", wait, err)
		}
		if !e.audit.has(f.ID, "recovery.reset", "ok") {
			t.Error("no audit of the reset")
		}
		// What stays until expiry names nobody: it only tells another
		// device that the password was changed.
		if g := e.get(t, f.ID); g.State != recovery.StateDone || len(g.Accounts) != 0 || g.Chosen != "" || g.IP != "" || g.Request != "" {
			t.Errorf("finished flow keeps %+v; want done and nothing personal", g)
		}
	})

	// The mail's link opened on another device: the code typed there
	// verifies the flow for that device alone; the browser that asked stays
	// bound, cannot choose the password, and once the other device has
	// finished, still finds the flow, done (issue 16, item 4).
	t.Run("two devices", func(t *testing.T) {
		e.account(t, account.Account{ID: "w415", Email: "anne.w415@example.fr"})
		f, token := e.request(t, "parents", "W415")
		f = e.dispatch(t, f.ID)
		code := e.mail.codesOf(f.ID)[0].Code
		// The phone: no cookie, the flow found by the link's id.
		byLink, err := e.svc.Get(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.svc.SubmitCode(ctx, byLink, code)
		if err != nil || res.Outcome != recovery.CodeOK {
			t.Fatalf("code on the phone: %v, %v", res.Outcome, err)
		}
		first, err := e.svc.Load(ctx, f.ID, token)
		if err != nil {
			t.Fatalf("the computer lost its flow when the phone typed the code: %v", err)
		}
		if first.VerifiedHere() || first.State != recovery.StateVerified {
			t.Errorf("the computer may choose the password: state %q, verified here %v", first.State, first.VerifiedHere())
		}
		if _, err := e.svc.SubmitPassword(ctx, first, "", newPassword, newPassword); !errors.Is(err, recovery.ErrElsewhere) {
			t.Errorf("step 3 on the computer: %v; want ErrElsewhere", err)
		}
		phone, err := e.svc.Load(ctx, f.ID, res.Token)
		if err != nil || !phone.VerifiedHere() {
			t.Fatalf("the phone: %v, verified here %v", err, phone.VerifiedHere())
		}
		if pr, err := e.svc.SubmitPassword(ctx, phone, "", newPassword, newPassword); err != nil || len(pr.Refusals) != 0 {
			t.Fatalf("step 3 on the phone: %+v, %v", pr.Refusals, err)
		}
		if done, err := e.svc.Load(ctx, f.ID, token); err != nil || done.State != recovery.StateDone {
			t.Errorf("the computer after the phone finished: state %q, %v; want done", done.State, err)
		}
	})

	// Another submit of the same verified flow (a double click, the other
	// device) wrote "done" first: this one is told the request is
	// finished and changes nothing. The other instance's first write is
	// made here by hand, which is the moment the race is decided.
	t.Run("double submit", func(t *testing.T) {
		e.account(t, account.Account{ID: "w420", Email: "anne.w420@example.fr"})
		f := e.verified(t, "W420")
		other := f
		other.State, other.Version = recovery.StateDone, f.Version+1
		if err := e.st.Flows().SaveFlow(ctx, other); err != nil {
			t.Fatal(err)
		}
		res, err := e.svc.SubmitPassword(ctx, f, "", newPassword, newPassword)
		if !errors.Is(err, recovery.ErrFinished) || res.Account.ID != "w420" {
			t.Errorf("SubmitPassword = %q, %v; want w420, ErrFinished", res.Account.ID, err)
		}
		if !e.passwordIs(t, "w420", oldPassword) || e.sessions.of("w420") != 0 || len(e.mail.changedOf("w420")) != 0 {
			t.Error("the losing submit changed the account")
		}
	})

	// The same race run for real: exactly one submit sets the password.
	t.Run("concurrent submits", func(t *testing.T) {
		e.account(t, account.Account{ID: "w430", Email: "anne.w430@example.fr"})
		f := e.verified(t, "W430")
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				_, errs[i] = e.svc.SubmitPassword(ctx, f, "", newPassword, newPassword)
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, recovery.ErrFinished), errors.Is(err, recovery.ErrNotFound):
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		if ok != 1 || e.sessions.of("w430") != 1 || len(e.mail.changedOf("w430")) != 1 {
			t.Errorf("%d submits succeeded, sessions revoked %d times, %d notices; want 1, 1, 1", ok, e.sessions.of("w430"), len(e.mail.changedOf("w430")))
		}
	})

	// A password set since the code was issued (the personal page, an
	// administrator) voids the flow: the older request must not undo it.
	t.Run("password changed since the code", func(t *testing.T) {
		e.account(t, account.Account{ID: "w440", Email: "anne.w440@example.fr"})
		f := e.verified(t, "W440")
		e.clock.Advance(time.Second)
		hash, err := e.hasher.Hash("Choisi-ailleurs-2025")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.st.Accounts().SetPassword(ctx, "w440", hash, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.SubmitPassword(ctx, f, "", newPassword, newPassword); !errors.Is(err, recovery.ErrNotFound) {
			t.Errorf("SubmitPassword: err = %v, want ErrNotFound", err)
		}
		e.gone(t, f.ID)
		if !e.passwordIs(t, "w440", "Choisi-ailleurs-2025") || e.sessions.of("w440") != 0 || len(e.mail.changedOf("w440")) != 0 {
			t.Error("the voided flow changed the account")
		}
	})
}

// TestRecoveryWrongState posts every step to flows in every other state:
// each refuses with ErrState and writes nothing.
func TestRecoveryWrongState(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.account(t, account.Account{ID: "x501", Email: "anne.x501@example.fr"})
	e.account(t, account.Account{ID: "x502", Email: "anne.x502@example.fr"})
	codeSent, code := e.codeSent(t, "X501")
	verified := e.verified(t, "X502")
	reminded, _, err := e.svc.SubmitRequest(ctx, recovery.RequestForm{Kind: recovery.KindIdentifier, Input: "anne.x501@example.fr", IP: e.nextIP(), Consent: true})
	if err != nil {
		t.Fatal(err)
	}
	// "done" lives only between the write that ends a flow and its
	// deletion; a copy of the verified flow stands for it.
	done := verified
	done.State = recovery.StateDone
	// Past the cooldown, so that a resend would go through if allowed.
	e.clock.Advance(time.Minute)

	flows := map[string]recovery.Flow{"code_sent": codeSent, "verified": verified, "reminded": reminded, "done": done}
	steps := map[string]func(recovery.Flow) error{
		"SubmitCode": func(f recovery.Flow) error { _, err := e.svc.SubmitCode(ctx, f, code); return err },
		"Resend":     func(f recovery.Flow) error { _, err := e.svc.Resend(ctx, f); return err },
		"SubmitPassword": func(f recovery.Flow) error {
			_, err := e.svc.SubmitPassword(ctx, f, "", newPassword, newPassword)
			return err
		},
	}
	for _, tt := range []struct{ step, state string }{
		{"SubmitCode", "verified"}, {"SubmitCode", "reminded"}, {"SubmitCode", "done"},
		{"Resend", "verified"}, {"Resend", "reminded"}, {"Resend", "done"},
		{"SubmitPassword", "code_sent"}, {"SubmitPassword", "reminded"}, {"SubmitPassword", "done"},
	} {
		t.Run(tt.step+" on "+tt.state, func(t *testing.T) {
			f := flows[tt.state]
			before := e.get(t, f.ID)
			if err := steps[tt.step](f); !errors.Is(err, recovery.ErrState) {
				t.Errorf("err = %v, want ErrState", err)
			}
			if after := e.get(t, f.ID); after.Version != before.Version {
				t.Errorf("stored flow written: version %d → %d", before.Version, after.Version)
			}
		})
	}
	if len(e.mail.codesOf(codeSent.ID)) != 1 || e.sessions.of("x501") != 0 || e.sessions.of("x502") != 0 || !e.passwordIs(t, "x502", oldPassword) {
		t.Error("a refused step had a side effect")
	}
}

func TestFlowStep(t *testing.T) {
	for _, tt := range []struct {
		state recovery.State
		want  recovery.Step
	}{
		{recovery.StateCodeSent, recovery.StepCode},
		{recovery.StateVerified, recovery.StepPassword},
		{recovery.StateDone, recovery.StepDone},
		{recovery.StateReminded, recovery.StepDone},
	} {
		t.Run(string(tt.state), func(t *testing.T) {
			if got := (recovery.Flow{State: tt.state}).Step(); got != tt.want {
				t.Errorf("Flow{State: %q}.Step() = %q, want %q", tt.state, got, tt.want)
			}
		})
	}
}
