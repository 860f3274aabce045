package recovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/audit"
	"github.com/sesame-edu/sesame/server/keys"
	"github.com/sesame-edu/sesame/server/policy"
	"github.com/sesame-edu/sesame/server/ratelimit"
	"github.com/sesame-edu/sesame/server/refusal"
)

// Config holds the flow's rules.
type Config struct {
	CodeTTL        time.Duration // how long a code is valid (15 min)
	FlowTTL        time.Duration // how long a flow lives (1 h)
	MaxAttempts    int           // wrong codes allowed per code (5)
	ResendCooldown time.Duration // between two codes (60 s)
	CodesPerHour   int           // codes per identifier per hour (5)
	RequestsPerIP  int           // requests per client address per hour (30; 0: no limit)
	BaseURL        *url.URL      // links in mails
}

// Deps are the service's collaborators.
type Deps struct {
	Store    Store
	Accounts Accounts
	Sessions Sessions
	Notifier Notifier
	Hasher   *account.Hasher
	Limiter  *ratelimit.Limiter
	// Cooldowns space out the office's codes for one person.
	Cooldowns *ratelimit.Cooldowns
	Audit     audit.Recorder
	// Throttles forgets an account's password failures once its owner has
	// reset it (account.Guard implements it); nil in tests without one.
	Throttles interface {
		Clear(ctx context.Context, accountID, ip string) error
	}
	// Key is derived from SESAME_SECRET for code and request hashes.
	Key []byte
	// Policy returns a population's password policy.
	Policy func(population string) policy.Policy
	Log    *slog.Logger
	Now    func() time.Time
}

// Service runs recovery flows.
type Service struct {
	Deps
	cfg   Config
	queue chan string
	// held names the flows queued or being processed here, so that the
	// periodic scan never queues one a second time: two workers of one
	// process on one flow would only race, and the loser's work is lost.
	mu   sync.Mutex
	held map[string]struct{}
}

// New returns a Service; call Run to start its dispatcher.
func New(d Deps, cfg Config) *Service {
	return &Service{Deps: d, cfg: cfg, queue: make(chan string, 1024), held: map[string]struct{}{}}
}

// Config returns the service's rules, for the pages that describe them.
func (s *Service) Config() Config { return s.cfg }

// RequestForm is the "request" step as the person filled it in.
type RequestForm struct {
	Kind       Kind
	Population string
	Input      string // identifier or e-mail (e-mail only for KindIdentifier)
	Lang       string
	IP         string
	Consent    bool
	// Device is the kind of device asking (DeviceOf the User-Agent).
	Device Device
	// Current is the flow this browser already has, if any: the same
	// request sent again within the resend delay (Back, then submit again)
	// returns it unchanged, so that its code keeps working.
	Current Flow
}

// Validate checks the request form's shape; the refusals are shown and
// nothing is recorded.
func (r RequestForm) Validate() refusal.List {
	var l refusal.List
	switch {
	case r.Input == "":
		l = l.Add("input", refusal.Missing)
	case r.Kind == KindIdentifier && !account.ValidEmail(r.Input):
		l = l.Add("input", refusal.Invalid)
	case account.IsEmail(r.Input) && !account.ValidEmail(r.Input):
		l = l.Add("input", refusal.Invalid)
	}
	if !r.Consent {
		l = l.Add("consent", refusal.Missing)
	}
	return l
}

// SubmitRequest carries out the "request" step (what was forgotten, and
// the identifier or address): it records the flow and returns it with the
// browser's token (empty when r.Current is returned unchanged).
//
// It does exactly the same work whatever the input: one rate-limit hit,
// one insert, one audit record. Finding the account, drawing the code and
// writing the mail happen in the dispatcher, after the answer has gone.
func (s *Service) SubmitRequest(ctx context.Context, r RequestForm) (Flow, string, error) {
	now := s.Now()
	norm := account.NormaliseIdentifier(r.Input)
	if account.IsEmail(r.Input) {
		norm = account.NormaliseEmail(r.Input)
	}
	// Per client address first: a school's network hides many parents, so
	// this limit is the looser one and the school's file sets it.
	if s.cfg.RequestsPerIP > 0 {
		d, err := s.Limiter.Allow(ctx, "ip:recovery:"+r.IP, s.cfg.RequestsPerIP, time.Hour)
		if err != nil {
			return Flow{}, "", err
		}
		if !d.Allowed {
			s.audit(ctx, "recovery.request", "", r.IP, "rate_limited_ip", "")
			return Flow{}, "", &RateLimitedError{RetryAfter: d.RetryAfter}
		}
	}
	rk := requestKey(s.Key, r.Kind, r.Population+"\x00"+norm)
	if c := r.Current; c.ID != "" && c.Kind == r.Kind && c.Kind == KindPassword && c.State == StateCodeSent &&
		equalHash(c.RequestKey, rk) && now.Before(c.CodeSentAt.Add(s.cfg.ResendCooldown)) {
		// The same request again, from the same browser, too soon for a
		// new code: nothing is recorded and the code already mailed stays
		// the one to type. The browser keeps its token (none is returned).
		return c, "", nil
	}
	if !account.Plausible(r.Input) {
		// Text that cannot name an account is not kept for a lookup that
		// would find nothing (the flow waits like any other).
		norm = ""
	}
	d, err := s.Limiter.Allow(ctx, "recovery:"+rk, s.cfg.CodesPerHour, time.Hour)
	if err != nil {
		return Flow{}, "", err
	}
	if !d.Allowed {
		s.audit(ctx, "recovery.request", "", r.IP, "rate_limited", "")
		return Flow{}, "", &RateLimitedError{RetryAfter: d.RetryAfter}
	}
	token := keys.RandomHex(32)
	f := Flow{
		ID:          keys.RandomHex(16),
		BrowserHash: keys.HashToken(token),
		Kind:        r.Kind,
		Population:  r.Population,
		Lang:        r.Lang,
		State:       StateCodeSent,
		Version:     1,
		CreatedAt:   now,
		UpdatedAt:   now,
		ExpiresAt:   now.Add(s.cfg.FlowTTL),
		IP:          r.IP,
		Request:     norm,
		RequestKey:  rk,
		Pending:     true,
		// Every flow gets a code deadline, even when no code will exist,
		// so that "expired" is said at the same moment for everyone.
		CodeSentAt:    now,
		CodeExpiresAt: now.Add(s.cfg.CodeTTL),
		ConsentAt:     now,
		Device:        r.Device,
	}
	if r.Kind == KindIdentifier {
		f.State = StateReminded
	}
	if err := s.Store.CreateFlow(ctx, f); err != nil {
		return Flow{}, "", fmt.Errorf("recovery: request: %w", err)
	}
	s.audit(ctx, "recovery.request", "", r.IP, "accepted", f.ID)
	s.enqueue(f.ID)
	f.Holder = f.BrowserHash // the browser that asked holds it
	return f, token, nil
}

// SendCodeFor is the office console's « envoyer un code »: a request for
// the account's own identifier in its population, made by the same path
// as the person's own (the same limits, dispatcher, mail and audit). The
// flow's browser token is dropped: the person finishes from the mailed
// link, and nobody at the office ever holds the code.
func (s *Service) SendCodeFor(ctx context.Context, acc account.Account, lang, ip string) error {
	// The office's button keeps the self-service's delay between two
	// codes: a double click or a reloaded page would otherwise send a
	// second code that voids the first one the person is reading. A
	// cooldown, not a fixed window, so that a double click across a
	// minute's end is held back too.
	d, err := s.Cooldowns.Take(ctx, "office-code:"+acc.ID, s.cfg.ResendCooldown)
	if err != nil {
		return err
	}
	if !d.Allowed {
		return &RateLimitedError{RetryAfter: d.RetryAfter}
	}
	_, _, err = s.SubmitRequest(ctx, RequestForm{Kind: KindPassword, Population: acc.Population, Input: acc.ID,
		Lang: lang, IP: ip, Consent: true})
	return err
}

// Load returns the flow of a browser: its id and token from the cookie.
func (s *Service) Load(ctx context.Context, id, token string) (Flow, error) {
	f, err := s.Store.GetFlow(ctx, id)
	if err != nil {
		return Flow{}, err
	}
	h := keys.HashToken(token)
	if !equalHash(f.BrowserHash, h) && (f.VerifiedBy == "" || !equalHash(f.VerifiedBy, h)) {
		return Flow{}, ErrNotFound
	}
	f.Holder = h
	return f, nil
}

// Get returns a flow by id alone, for the mailed link opened in another
// browser: the code then proves who the person is.
func (s *Service) Get(ctx context.Context, id string) (Flow, error) {
	return s.Store.GetFlow(ctx, id)
}

// Cancel deletes a flow (the person closed the dialog, or starts again).
func (s *Service) Cancel(ctx context.Context, f Flow) error {
	return s.Store.DeleteFlow(ctx, f.ID)
}

// Resend voids the current code and issues a new one, after the cooldown.
// It returns how long to wait when called too early.
func (s *Service) Resend(ctx context.Context, f Flow) (time.Duration, error) {
	if f.State != StateCodeSent || f.Kind != KindPassword {
		return 0, ErrState
	}
	now := s.Now()
	if wait := f.CodeSentAt.Add(s.cfg.ResendCooldown).Sub(now); wait > 0 {
		return wait, nil
	}
	d, err := s.Limiter.Allow(ctx, "recovery:"+f.RequestKey, s.cfg.CodesPerHour, time.Hour)
	if err != nil {
		return 0, err
	}
	if !d.Allowed {
		s.audit(ctx, "recovery.resend", "", f.IP, "rate_limited", f.ID)
		return 0, &RateLimitedError{RetryAfter: d.RetryAfter}
	}
	sent := f.CodeSentAt
	err = s.save(ctx, renewCode(&f, now, s.cfg.CodeTTL))
	if errors.Is(err, ErrConflict) {
		// Someone wrote first. The dispatcher's last write of the earlier
		// code (its mail can arrive a moment before that write): the
		// request goes on, on the budget already counted. Another
		// « Renvoyer » (a double tap, the other device): a new code is on
		// its way.
		if f, err = s.Store.GetFlow(ctx, f.ID); err != nil {
			return 0, fmt.Errorf("recovery: resend: %w", err)
		}
		if f.State != StateCodeSent || !f.CodeSentAt.Equal(sent) {
			return s.cfg.ResendCooldown, nil
		}
		err = s.save(ctx, renewCode(&f, now, s.cfg.CodeTTL))
	}
	if errors.Is(err, ErrConflict) {
		return s.cfg.ResendCooldown, nil
	} else if err != nil {
		return 0, err
	}
	s.audit(ctx, "recovery.resend", "", f.IP, "accepted", f.ID)
	s.enqueue(f.ID)
	return 0, nil
}

// renewCode makes f wait for a new code, sent at now: the earlier code
// stops working and is kept, hashed, so that it is recognised as replaced
// rather than counted as a wrong guess.
func renewCode(f *Flow, now time.Time, ttl time.Duration) *Flow {
	f.Pending = true
	if f.CodeHash != "" {
		f.Replaced = append(f.Replaced, f.CodeHash)
		if len(f.Replaced) > maxReplaced {
			f.Replaced = f.Replaced[len(f.Replaced)-maxReplaced:]
		}
	}
	f.CodeHash = ""
	f.CodeSentAt, f.CodeExpiresAt, f.Attempts = now, now.Add(ttl), 0
	return f
}

// CodeOutcome is how a code entry ended.
type CodeOutcome int

const (
	// CodeOK: the flow is verified and bound to a new browser token.
	CodeOK CodeOutcome = iota
	// CodeMalformed: not a code at all; no try was spent.
	CodeMalformed
	// CodeWrong: a try was spent; Remaining says how many are left.
	CodeWrong
	// CodeExpired: the code's time is up; ask for a new one.
	CodeExpired
	// CodeExhausted: no tries left; the flow is gone, start again.
	CodeExhausted
	// CodeReplaced: the code of an earlier mail, replaced by « Renvoyer le
	// code »; no try was spent.
	CodeReplaced
)

// maxReplaced bounds the replaced codes a flow remembers; the resend
// limit per hour is of the same order.
const maxReplaced = 5

// CodeResult is the outcome of the "code" step, with the flow as it now
// stands.
type CodeResult struct {
	Flow    Flow
	Outcome CodeOutcome
	// Remaining is how many tries are left (CodeWrong, CodeMalformed).
	Remaining int
	// Token is the new browser token (CodeOK).
	Token string
}

// SubmitCode carries out the "code" step. The attempt is recorded (a versioned write) before
// the code is compared, so that concurrent guesses across instances each
// cost a try. On success the flow is bound to a new browser token, which
// lets the person finish on the device where they opened the mail.
func (s *Service) SubmitCode(ctx context.Context, f Flow, typed string) (CodeResult, error) {
	if f.State != StateCodeSent || f.Kind != KindPassword {
		return CodeResult{Flow: f}, ErrState
	}
	code, ok := NormaliseCode(typed)
	if !ok {
		return CodeResult{Flow: f, Outcome: CodeMalformed, Remaining: s.cfg.MaxAttempts - f.Attempts}, nil
	}
	now := s.Now()
	if !now.Before(f.CodeExpiresAt) {
		return CodeResult{Flow: f, Outcome: CodeExpired, Remaining: s.cfg.MaxAttempts - f.Attempts}, nil
	}
	// The code of an earlier mail is told apart before the try is counted:
	// the person read the wrong mail, they did not guess. Comparing with
	// codes that no longer open anything gives a guesser nothing about the
	// current one, whose tries are counted below before it is compared.
	typedHash := hashCode(s.Key, f.ID, code)
	for _, h := range f.Replaced {
		if equalHash(h, typedHash) {
			return CodeResult{Flow: f, Outcome: CodeReplaced, Remaining: s.cfg.MaxAttempts - f.Attempts}, nil
		}
	}
	// Record the try first. A conflict means another write came in between
	// (a concurrent guess, the dispatcher): read again and count on that.
	for try := 0; ; try++ {
		if f.Attempts >= s.cfg.MaxAttempts {
			// Read again after a conflict: the other guess spent the last
			// try. This one is not compared at all; the flow is over.
			return CodeResult{Flow: f}, ErrNotFound
		}
		f.Attempts++
		f.Version++
		f.UpdatedAt = s.Now()
		err := s.Store.SaveCodeAttempt(ctx, f)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrConflict) || try == 19 {
			return CodeResult{Flow: f}, err
		}
		f, err = s.Store.GetFlow(ctx, f.ID)
		if err != nil {
			// ErrNotFound: a concurrent guess spent the last try and ended
			// the flow; the web layer says the request is over.
			return CodeResult{Flow: f}, err
		}
		if f.State != StateCodeSent {
			return CodeResult{Flow: f}, ErrState
		}
	}
	if !equalHash(f.CodeHash, typedHash) || !s.stillValid(ctx, &f) {
		remaining := s.cfg.MaxAttempts - f.Attempts
		if remaining <= 0 {
			s.audit(ctx, "recovery.lockout", first(f.Accounts), f.IP, "too_many_codes", f.ID)
			// The flow ends: its data is deleted, the person starts again.
			if err := s.Store.DeleteFlow(ctx, f.ID); err != nil {
				return CodeResult{Flow: f}, fmt.Errorf("recovery: end flow: %w", err)
			}
			return CodeResult{Flow: f, Outcome: CodeExhausted}, nil
		}
		s.audit(ctx, "recovery.code_failed", first(f.Accounts), f.IP, "wrong_code", f.ID)
		return CodeResult{Flow: f, Outcome: CodeWrong, Remaining: remaining}, nil
	}
	token := keys.RandomHex(32)
	f.State, f.CodeHash, f.Attempts, f.Replaced = StateVerified, "", 0, nil // single use
	f.VerifiedBy = keys.HashToken(token)
	if f.Holder != "" && f.Holder == f.BrowserHash {
		// The browser that asked typed the code: its token changes.
		f.BrowserHash = f.VerifiedBy
	}
	// Otherwise the code came from another device (the mail's link): the
	// browser that asked keeps its token, to be told where things stand.
	f.Holder = f.VerifiedBy
	if len(f.Accounts) == 1 {
		f.Chosen = f.Accounts[0]
	}
	if err := s.save(ctx, &f); err != nil {
		return CodeResult{Flow: f}, err
	}
	s.audit(ctx, "recovery.code_ok", first(f.Accounts), f.IP, "ok", f.ID)
	return CodeResult{Flow: f, Outcome: CodeOK, Token: token}, nil
}

// stillValid drops the accounts whose password changed after the flow
// began: a reset voids every code issued before it.
func (s *Service) stillValid(ctx context.Context, f *Flow) bool {
	var keep []string
	for _, id := range f.Accounts {
		a, err := s.Accounts.GetAccount(ctx, id)
		if err == nil && a.Status == account.StatusActive && a.PasswordChangedAt.Before(f.CreatedAt) {
			keep = append(keep, id)
		}
	}
	f.Accounts = keep
	return len(keep) > 0
}

// Candidates returns the accounts a verified flow may reset, for the
// shared-address choice of step 3.
func (s *Service) Candidates(ctx context.Context, f Flow) ([]account.Account, error) {
	var out []account.Account
	for _, id := range f.Accounts {
		a, err := s.Accounts.GetAccount(ctx, id)
		if errors.Is(err, account.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// PasswordResult is the outcome of the "password" step: the refusals to
// show with the rules as evaluated (nothing was changed), or the account
// whose password is now set.
type PasswordResult struct {
	Refusals refusal.List
	Rules    []policy.Rule
	Account  account.Account
}

// SubmitPassword carries out the "password" step: it sets the new password
// of the chosen account, ends the flow, revokes every session of the
// account and mails a notice. It never signs the person in. Every problem
// of the new password is reported at once.
func (s *Service) SubmitPassword(ctx context.Context, f Flow, chosen, password, confirm string) (PasswordResult, error) {
	if f.State != StateVerified {
		return PasswordResult{}, ErrState
	}
	if !f.VerifiedHere() {
		// The code was typed on another device: only that one may finish.
		return PasswordResult{}, ErrElsewhere
	}
	if chosen == "" {
		chosen = f.Chosen
	}
	var refused refusal.List
	if chosen == "" || !slices.Contains(f.Accounts, chosen) {
		// Every problem is reported at once: the password is checked too,
		// against the rules of the address's first account, without names
		// (which account is meant is not known yet).
		refused = refused.Add("account", refusal.Choose)
		chosen = ""
	}
	target := chosen
	if target == "" && len(f.Accounts) > 0 {
		target = f.Accounts[0]
	}
	if target == "" {
		return PasswordResult{Refusals: refused}, nil
	}
	acc, err := s.Accounts.GetAccount(ctx, target)
	if err != nil {
		return PasswordResult{}, fmt.Errorf("recovery: password: %w", err)
	}
	if chosen != "" && !acc.PasswordChangedAt.Before(f.CreatedAt) {
		// Someone reset this account since the code was issued.
		_ = s.Store.DeleteFlow(ctx, f.ID)
		return PasswordResult{}, ErrNotFound
	}
	pc := policy.Context{Identifier: acc.Identifier, FirstName: acc.FirstName, LastName: acc.LastName}
	if chosen == "" {
		pc = policy.Context{}
	}
	res := s.Policy(acc.Population).Evaluate(password, pc)
	refused = append(refused, account.NewPasswordRefusals(res, password, confirm, "")...)
	if len(refused) > 0 {
		if chosen == "" {
			acc = account.Account{}
		}
		return PasswordResult{Refusals: refused, Rules: res.Rules, Account: acc}, nil
	}
	// The versioned write to "done" makes the verified flow single-use:
	// a second submit, here or on another instance, fails.
	f.State = StateDone
	if err := s.save(ctx, &f); errors.Is(err, ErrConflict) {
		return PasswordResult{Account: acc}, ErrFinished
	} else if err != nil {
		return PasswordResult{}, err
	}
	hash, err := s.Hasher.Hash(password)
	if err != nil {
		return PasswordResult{}, fmt.Errorf("recovery: hash: %w", err)
	}
	now := s.Now()
	if err := s.Accounts.SetPassword(ctx, acc.ID, hash, now); err != nil {
		return PasswordResult{}, fmt.Errorf("recovery: set password: %w", err)
	}
	if err := s.Sessions.RevokeAll(ctx, acc.ID); err != nil {
		return PasswordResult{}, fmt.Errorf("recovery: revoke sessions: %w", err)
	}
	// The owner proved who they are: a stranger's wrong guesses no longer
	// keep them out (the stranger's own source stays throttled).
	if s.Throttles != nil {
		if err := s.Throttles.Clear(ctx, acc.ID, f.IP); err != nil {
			return PasswordResult{}, fmt.Errorf("recovery: clear throttle: %w", err)
		}
	}
	if acc.Email != "" {
		if err := s.Notifier.PasswordChanged(ctx, ChangedNotice{Lang: f.Lang, To: acc.Email, Account: acc, At: now}); err != nil {
			s.Log.Error("recovery: queue password-changed notice", "account", acc.ID, "err", err)
		}
	}
	s.audit(ctx, "recovery.reset", acc.ID, f.IP, "ok", f.ID)
	// The request is processed: its data goes (GDPR). What stays until the
	// flow expires names nobody; it lets the other device say « déjà
	// modifié » instead of « expiré ».
	f.Accounts, f.Chosen, f.IP, f.Device = nil, "", "", ""
	if err := s.save(ctx, &f); err != nil {
		s.Log.Warn("recovery: empty finished flow; the sweeper deletes it", "flow", f.ID, "err", err)
	}
	return PasswordResult{Account: acc}, nil
}

// save writes f over the version it was read at.
func (s *Service) save(ctx context.Context, f *Flow) error {
	f.Version++
	f.UpdatedAt = s.Now()
	if err := s.Store.SaveFlow(ctx, *f); err != nil {
		return fmt.Errorf("recovery: save flow: %w", err)
	}
	return nil
}

func (s *Service) audit(ctx context.Context, action, accountID, ip, outcome, flow string) {
	if s.Audit == nil {
		return
	}
	if err := s.Audit.Record(ctx, audit.Event{At: s.Now(), Action: action, AccountID: accountID, IP: ip, Outcome: outcome, Flow: flow}); err != nil && ctx.Err() == nil {
		s.Log.Error("recovery: audit", "action", action, "err", err)
	}
}

func first(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}
