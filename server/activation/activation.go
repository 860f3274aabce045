// Package activation is the first-time activation wizard: a person with
// the identifier and provisional password of their school letter confirms
// a rescue e-mail address, accepts the IT charter, chooses whether to appear
// in the directory, redirects their institutional mailbox when their
// population has one, and chooses their own password.
//
// The flow is a state machine stored in the database, one per account (so
// that a person coming back on another device resumes it), bound to the
// browser that passed step 1. Every step checks the state: posting to a
// later step does nothing. Nothing is written to the account before the
// last step, which writes everything at once.
//
// The package imports neither the web framework, the driver nor templ.
package activation

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/audit"
	"github.com/sesame-edu/sesame/server/keys"
	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/policy"
	"github.com/sesame-edu/sesame/server/ratelimit"
	"github.com/sesame-edu/sesame/server/refusal"
)

// Step is a page of the wizard. Each step has one word, used everywhere:
// its route (paths.ActivationRescue), its handler (web's activationRescue),
// its template (views' activationRescue), its domain method (SetRescue) and
// its tests (TestActivationRescue…).
type Step string

const (
	StepStart     Step = "start"     // identifier and provisional password
	StepRescue    Step = "rescue"    // a rescue address, confirmed by a link
	StepCharter   Step = "charter"   // the IT charter
	StepDirectory Step = "directory" // the directory consent
	StepRedirect  Step = "redirect"  // the mailbox redirection (mailbox populations only)
	StepPassword  Step = "password"  // the person's own password
	StepDone      Step = "done"      // the summary
)

// Steps is the wizard's order, the one list the progress bar, the titles
// and the checks derive from. A population without an institutional
// mailbox has no redirection step.
func Steps(hasMailbox bool) []Step {
	if !hasMailbox {
		return []Step{StepStart, StepRescue, StepCharter, StepDirectory, StepPassword, StepDone}
	}
	return []Step{StepStart, StepRescue, StepCharter, StepDirectory, StepRedirect, StepPassword, StepDone}
}

// State is where a flow waits.
type State string

const (
	StateRescue     State = "rescue"      // give a rescue address
	StateRescueSent State = "rescue_sent" // waiting for its link
	StateCharter    State = "charter"
	StateDirectory  State = "directory"
	StateRedirect   State = "redirect" // mailbox populations only
	StateRedirSent  State = "redirect_sent"
	StatePassword   State = "password"
)

// Step is the step a flow in this state shows: the one function from
// states to steps.
func (s State) Step() Step {
	switch s {
	case StateRescue, StateRescueSent:
		return StepRescue
	case StateCharter:
		return StepCharter
	case StateDirectory:
		return StepDirectory
	case StateRedirect, StateRedirSent:
		return StepRedirect
	case StatePassword:
		return StepPassword
	}
	return StepStart
}

// Flow is one activation in progress.
type Flow struct {
	// ID is a keyed hash of the account id: one flow per account, found
	// again when the person comes back, without the identifier in clear.
	ID          string
	AccountID   string
	BrowserHash string
	State       State
	Version     int
	Lang        string
	IP          string
	CreatedAt   time.Time
	ExpiresAt   time.Time

	RescueEmail     string
	RescueToken     string // hash of the link's token
	RescueConfirmed bool
	CharterVersion  string
	CharterAt       time.Time
	Directory       bool
	DirectoryAt     time.Time
	RedirectTo      string
	RedirectCopy    bool
	RedirectToken   string
	LinkDeadline    time.Time
}

// Errors the web package turns into messages.
var (
	ErrNotFound = errors.New("activation: no flow")
	ErrConflict = errors.New("activation: flow changed concurrently")
	ErrState    = errors.New("activation: wrong step")
	// ErrMailBudget means the account was sent its confirmation links for
	// the hour: nobody may use Sésame to mail any address without end.
	ErrMailBudget = errors.New("activation: confirmation mails spent for the hour")
)

// Store keeps flows, and the accounts they complete.
type Store interface {
	GetActivation(ctx context.Context, id string) (Flow, error)
	CreateActivation(ctx context.Context, f Flow) error
	// SaveActivation writes f if the stored version is f.Version-1.
	SaveActivation(ctx context.Context, f Flow) error
	DeleteActivation(ctx context.Context, id string) error
	// ClaimMailbox reserves an institutional address for an account;
	// false when another account has it.
	ClaimMailbox(ctx context.Context, address, accountID string) (bool, error)
	GetAccount(ctx context.Context, id string) (account.Account, error)
	account.Patcher
}

// LinkNotice is the mail verifying an address with a link.
type LinkNotice struct {
	Lang     string
	To       string
	Account  account.Account
	Link     string
	Deadline time.Time
	Purpose  string // "rescue" or "redirect"
}

// Notifier writes the activation's mails.
type Notifier interface {
	VerifyAddress(ctx context.Context, n LinkNotice) error
}

// Population is what activation needs to know of a population.
type Population struct {
	Policy          policy.Policy
	MailboxDomain   string // "" when the population has no mailbox
	MailboxPattern  string
	RedirectMandate bool
}

// Deps are the service's collaborators.
type Deps struct {
	Store  Store
	Hasher *account.Hasher
	// Guard throttles guesses of provisional passwords with the same
	// throttle per account as every other place a password is typed.
	Guard *account.Guard
	// Limiter counts confirmation mails per account (see spendMail).
	Limiter    *ratelimit.Limiter
	Notifier   Notifier
	Audit      audit.Recorder
	Population func(key string) Population
	Charter    func() string // current charter version
	Key        []byte
	BaseURL    *url.URL
	Location   *time.Location
	Now        func() time.Time
	Log        *slog.Logger
	// FailureFloor makes a wrong identifier/password pair take at least
	// this long, whether or not the identifier exists (see
	// account.Authenticator.WithFailureFloor).
	FailureFloor time.Duration
}

// Service runs activations.
type Service struct{ Deps }

// New returns a Service.
func New(d Deps) *Service { return &Service{Deps: d} }

// StartOutcome is how the "start" step ended.
type StartOutcome int

const (
	// Started: the flow is ready (new or resumed) and bound to this browser.
	Started StartOutcome = iota
	// WrongPair: identifier and provisional password do not match; the
	// person is not told which part was wrong.
	WrongPair
	// Throttled: too many wrong pairs; wait.
	Throttled
)

// Start checks the identifier and provisional password and returns the
// account's flow (resumed if one is in progress) and the browser's token.
// StartResult is the outcome of the "start" step: the flow (new or
// resumed) and the browser's token when started, or how long to wait.
type StartResult struct {
	Flow       Flow
	Token      string
	Outcome    StartOutcome
	RetryAfter time.Duration
}

func (s *Service) Start(ctx context.Context, identifier, password, lang, ip string) (res StartResult, err error) {
	start := time.Now()
	defer func() {
		if err == nil && res.Outcome == WrongPair && s.FailureFloor > 0 {
			account.PadTo(ctx, start, s.FailureFloor)
		}
	}()
	var acc account.Account
	err = account.ErrNotFound
	if account.Plausible(identifier) {
		acc, err = s.Store.GetAccount(ctx, account.NormaliseIdentifier(identifier))
	}
	found := err == nil
	if err != nil && !errors.Is(err, account.ErrNotFound) {
		return StartResult{}, err
	}
	var candidates []account.Account
	if found {
		candidates = []account.Account{acc}
	}
	tickets, w, err := s.Guard.Attempt(ctx, identifier, candidates, ip)
	if err != nil {
		return StartResult{}, err
	} else if w > 0 {
		s.audit(ctx, "activation.start", "", ip, "throttled")
		return StartResult{Outcome: Throttled, RetryAfter: w}, nil
	}
	ok := false
	if found {
		ok, _, err = s.Hasher.Verify(acc.PasswordHash, password)
		if err != nil && !errors.Is(err, account.ErrBadHash) {
			return StartResult{}, err
		}
	} else {
		s.Hasher.Burn(password) // the same work for unknown identifiers
	}
	outcome := "wrong_pair"
	if ok && acc.ProvisionalExpired(s.Now()) {
		// The letter's « valable jusqu'au » has passed: the office prints
		// a new one. Answered as a wrong pair, like everything else here.
		ok, outcome = false, "provisional_expired"
	}
	if ok && acc.Status == account.StatusActive {
		// An activated account's password is never confirmed here: « déjà
		// activé » would tell whoever typed it that it is right. It counts
		// as a failure, so that the throttle tells nothing either; the
		// refusal's words send people to sign-in. The audit alone tells the
		// owner's right password from a stranger's guess.
		ok, outcome = false, "already_active"
	}
	if !ok {
		w, err := tickets.Fail(ctx)
		if err != nil {
			return StartResult{}, err
		}
		s.audit(ctx, "activation.start", idIf(found, acc.ID), ip, outcome)
		return StartResult{Outcome: WrongPair, RetryAfter: w}, nil
	}
	if err := s.Guard.Succeed(ctx, tickets, acc, ip); err != nil {
		return StartResult{}, err
	}

	token := keys.RandomHex(32)
	now := s.Now()
	id := s.keyed("flow", acc.ID)
	f, err := s.Store.GetActivation(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		f = Flow{ID: id, AccountID: acc.ID, State: StateRescue, Version: 1, Lang: lang, IP: ip,
			CreatedAt: now, ExpiresAt: s.endOfDay(now), BrowserHash: keys.HashToken(token)}
		if err := s.Store.CreateActivation(ctx, f); err != nil {
			return StartResult{}, fmt.Errorf("activation: start: %w", err)
		}
	case err != nil:
		return StartResult{}, err
	default:
		// Coming back: the flow continues where it stopped, on this browser.
		f.BrowserHash, f.IP = keys.HashToken(token), ip
		if err := s.save(ctx, &f); err != nil {
			return StartResult{}, err
		}
	}
	s.audit(ctx, "activation.start", acc.ID, ip, "ok")
	return StartResult{Flow: f, Token: token, Outcome: Started}, nil
}

// Abandon deletes the activation in progress of an account, if any: the
// office printed a new letter, and a flow opened with the old one must not
// go on.
func (s *Service) Abandon(ctx context.Context, accountID string) error {
	err := s.Store.DeleteActivation(ctx, s.keyed("flow", accountID))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("activation: abandon: %w", err)
	}
	return nil
}

// Progress returns the step where an account's activation waits, or ""
// when none is in progress, for the office console.
func (s *Service) Progress(ctx context.Context, accountID string) (Step, time.Time, error) {
	f, err := s.Store.GetActivation(ctx, s.keyed("flow", accountID))
	if errors.Is(err, ErrNotFound) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, err
	}
	if !s.Now().Before(f.ExpiresAt) || f.State == "done" {
		return "", time.Time{}, nil
	}
	return f.State.Step(), f.CreatedAt, nil
}

// Load returns the flow of a browser.
func (s *Service) Load(ctx context.Context, id, token string) (Flow, error) {
	f, err := s.Store.GetActivation(ctx, id)
	if err != nil {
		return Flow{}, err
	}
	if !hmac.Equal([]byte(f.BrowserHash), []byte(keys.HashToken(token))) {
		return Flow{}, ErrNotFound
	}
	return f, nil
}

// Account returns the flow's account.
func (s *Service) Account(ctx context.Context, f Flow) (account.Account, error) {
	return s.Store.GetAccount(ctx, f.AccountID)
}

// Restart deletes the flow: the person starts again from step 1.
func (s *Service) Restart(ctx context.Context, f Flow) error {
	return s.Store.DeleteActivation(ctx, f.ID)
}

// endOfDay is 23:59:59 of now's day in the school's time zone: the rescue
// link's deadline, and the flow's.
func (s *Service) endOfDay(now time.Time) time.Time {
	l := now.In(s.Location)
	return time.Date(l.Year(), l.Month(), l.Day(), 23, 59, 59, 0, s.Location)
}

// SetRescue records the rescue address and mails its verification link,
// valid until 23:59 the same day.
func (s *Service) SetRescue(ctx context.Context, f Flow, email string) error {
	if f.State != StateRescue && f.State != StateRescueSent {
		return ErrState
	}
	acc, err := s.Account(ctx, f)
	if err != nil {
		return err
	}
	token := keys.RandomHex(32)
	if err := s.spendMail(ctx, acc.ID); err != nil {
		return err
	}
	f.RescueEmail, f.RescueToken, f.State = strings.TrimSpace(email), keys.HashToken(token), StateRescueSent
	f.LinkDeadline = s.endOfDay(s.Now())
	if err := s.save(ctx, &f); err != nil {
		return err
	}
	s.audit(ctx, "activation.rescue_sent", f.AccountID, f.IP, "ok")
	return s.Notifier.VerifyAddress(ctx, LinkNotice{Lang: f.Lang, To: f.RescueEmail, Account: acc,
		Link: s.link(f.ID, token), Deadline: f.LinkDeadline, Purpose: "rescue"})
}

// LinkInfo tells the confirmation page what a link would confirm, without
// using it (mail scanners prefetch links).
func (s *Service) LinkInfo(ctx context.Context, flowID, token string) (address, purpose string, err error) {
	f, err := s.Store.GetActivation(ctx, flowID)
	if err != nil {
		return "", "", err
	}
	switch {
	case !s.Now().Before(f.LinkDeadline):
		return "", "", ErrNotFound
	case f.State == StateRescueSent && hmac.Equal([]byte(f.RescueToken), []byte(keys.HashToken(token))):
		return f.RescueEmail, "rescue", nil
	case f.State == StateRedirSent && hmac.Equal([]byte(f.RedirectToken), []byte(keys.HashToken(token))):
		return f.RedirectTo, "redirect", nil
	}
	return "", "", ErrNotFound
}

// Confirm applies a link on the person's submit and moves to the next step.
func (s *Service) Confirm(ctx context.Context, flowID, token string) (Flow, error) {
	f, err := s.Store.GetActivation(ctx, flowID)
	if err != nil {
		return Flow{}, err
	}
	if !s.Now().Before(f.LinkDeadline) {
		return Flow{}, ErrNotFound
	}
	switch {
	case f.State == StateRescueSent && f.RescueToken != "" && hmac.Equal([]byte(f.RescueToken), []byte(keys.HashToken(token))):
		f.RescueConfirmed, f.RescueToken, f.State = true, "", StateCharter
	case f.State == StateRedirSent && f.RedirectToken != "" && hmac.Equal([]byte(f.RedirectToken), []byte(keys.HashToken(token))):
		f.RedirectToken, f.State = "", StatePassword
	default:
		return Flow{}, ErrNotFound
	}
	if err := s.save(ctx, &f); err != nil {
		return Flow{}, err
	}
	s.audit(ctx, "activation.address_confirmed", f.AccountID, f.IP, "ok")
	return f, nil
}

// AcceptCharter records the acceptance of the current charter.
func (s *Service) AcceptCharter(ctx context.Context, f Flow) (Flow, error) {
	if f.State != StateCharter {
		return f, ErrState
	}
	f.CharterVersion, f.CharterAt, f.State = s.Charter(), s.Now(), StateDirectory
	return f, s.save(ctx, &f)
}

// ChooseDirectory records whether the person appears in the directory.
func (s *Service) ChooseDirectory(ctx context.Context, f Flow, appear bool) (Flow, error) {
	if f.State != StateDirectory {
		return f, ErrState
	}
	acc, err := s.Account(ctx, f)
	if err != nil {
		return f, err
	}
	f.Directory, f.DirectoryAt = appear, s.Now()
	f.State = StatePassword
	if s.Population(acc.Population).MailboxDomain != "" {
		f.State = StateRedirect
	}
	return f, s.save(ctx, &f)
}

// SetRedirect records the mailbox redirection. A redirection is mandatory
// for some populations (contract staff); an address other than the
// confirmed rescue address must be confirmed by its own link first.
func (s *Service) SetRedirect(ctx context.Context, f Flow, redirect bool, to string, keepCopy bool) (Flow, refusal.List, error) {
	if f.State != StateRedirect && f.State != StateRedirSent {
		return f, nil, ErrState
	}
	acc, err := s.Account(ctx, f)
	if err != nil {
		return f, nil, err
	}
	pop := s.Population(acc.Population)
	to = strings.TrimSpace(to)
	if pop.RedirectMandate {
		redirect = true
	}
	if !redirect {
		f.RedirectTo, f.RedirectCopy, f.State = "", false, StatePassword
		return f, nil, s.save(ctx, &f)
	}
	if !account.ValidEmail(to) {
		return f, refusal.List{}.Add("to", refusal.Invalid), nil
	}
	if strings.HasSuffix(account.NormaliseEmail(to), "@"+pop.MailboxDomain) {
		// Redirecting a mailbox to itself would loop.
		return f, refusal.List{}.Add("to", refusal.Loop), nil
	}
	f.RedirectTo, f.RedirectCopy = to, keepCopy
	if account.NormaliseEmail(to) == account.NormaliseEmail(f.RescueEmail) && f.RescueConfirmed {
		f.State = StatePassword
		return f, nil, s.save(ctx, &f)
	}
	if err := s.spendMail(ctx, acc.ID); errors.Is(err, ErrMailBudget) {
		return f, refusal.List{}.Add("to", refusal.Budget), nil
	} else if err != nil {
		return f, nil, err
	}
	token := keys.RandomHex(32)
	f.RedirectToken, f.State, f.LinkDeadline = keys.HashToken(token), StateRedirSent, s.endOfDay(s.Now())
	if err := s.save(ctx, &f); err != nil {
		return f, nil, err
	}
	return f, nil, s.Notifier.VerifyAddress(ctx, LinkNotice{Lang: f.Lang, To: to, Account: acc,
		Link: s.link(f.ID, token), Deadline: f.LinkDeadline, Purpose: "redirect"})
}

// ConfirmMailsPerHour is how many confirmation links one account may be
// sent in an hour, from activation and the personal page together.
const ConfirmMailsPerHour = 5

// spendMail counts a confirmation mail against the account's budget,
// before the mail is queued.
func (s *Service) spendMail(ctx context.Context, accountID string) error {
	if s.Limiter == nil {
		return nil
	}
	d, err := s.Limiter.Allow(ctx, "confirm-mail:"+accountID, ConfirmMailsPerHour, time.Hour)
	if err != nil {
		return err
	}
	if !d.Allowed {
		s.audit(ctx, "activation.mail", accountID, "", "budget_spent")
		return ErrMailBudget
	}
	return nil
}

// Summary is what the last page shows.
type Summary struct {
	Account account.Account
}

// SetPassword finishes: the person's own password replaces the provisional
// one, and everything recorded in the flow is written to the account at
// once. The flow is then deleted.
func (s *Service) SetPassword(ctx context.Context, f Flow, password, confirm string) (PasswordResult, error) {
	if f.State != StatePassword {
		return PasswordResult{}, ErrState
	}
	acc, err := s.Account(ctx, f)
	if err != nil {
		return PasswordResult{}, err
	}
	pop := s.Population(acc.Population)
	res := pop.Policy.Evaluate(password, policy.Context{Identifier: acc.Identifier, FirstName: acc.FirstName, LastName: acc.LastName})
	refused := account.NewPasswordRefusals(res, password, confirm, "")
	if _, ok := refused.Of("password"); !ok {
		if same, _, _ := s.Hasher.Verify(acc.PasswordHash, password); same {
			refused = refused.Add("password", refusal.Same)
		}
	}
	if len(refused) > 0 {
		return PasswordResult{Refusals: refused, Rules: res.Rules}, nil
	}
	// Mark the flow finished first: a second submit (here or on another
	// instance) fails instead of activating twice.
	f.State = "done"
	if err := s.save(ctx, &f); err != nil {
		return PasswordResult{}, err
	}
	hash, err := s.Hasher.Hash(password)
	if err != nil {
		return PasswordResult{}, err
	}
	now := s.Now()
	// Only what activation decides is written: a profile or import write
	// landing meanwhile keeps its own fields.
	p := account.Patch{
		Email: account.Set(f.RescueEmail), EmailSetBy: account.Set(account.SetByUser),
		PasswordHash: account.Set(hash), PasswordSetBy: account.Set(account.SetByUser),
		PasswordChangedAt: account.Set(now), Status: account.Set(account.StatusActive), ActivatedAt: account.Set(now),
		CharterVersion: account.Set(f.CharterVersion), CharterAt: account.Set(f.CharterAt),
		Directory: account.Set(f.Directory), DirectoryAt: account.Set(f.DirectoryAt),
		RedirectTo: account.Set(f.RedirectTo), RedirectCopy: account.Set(f.RedirectCopy),
		PendingEmail: account.Set(""), PendingEmailID: account.Set(""),
	}
	if pop.MailboxDomain != "" && acc.Mailbox == "" {
		addr, err := s.mailbox(ctx, acc, pop)
		if err != nil {
			return PasswordResult{}, err
		}
		p.Mailbox = account.Set(addr)
		acc.Mailbox = addr
	}
	if err := s.Store.PatchAccount(ctx, acc.ID, p, now); err != nil {
		return PasswordResult{}, err
	}
	acc.Email, acc.EmailSetBy = f.RescueEmail, account.SetByUser
	acc.PasswordHash, acc.PasswordSetBy, acc.PasswordChangedAt = hash, account.SetByUser, now
	acc.Status, acc.ActivatedAt, acc.UpdatedAt = account.StatusActive, now, now
	acc.CharterVersion, acc.CharterAt = f.CharterVersion, f.CharterAt
	acc.Directory, acc.DirectoryAt = f.Directory, f.DirectoryAt
	acc.RedirectTo, acc.RedirectCopy = f.RedirectTo, f.RedirectCopy
	s.audit(ctx, "activation.done", acc.ID, f.IP, "ok")
	if err := s.Store.DeleteActivation(ctx, f.ID); err != nil {
		s.Log.Warn("activation: delete finished flow; it expires tonight", "err", err)
	}
	return PasswordResult{Account: acc}, nil
}

// PasswordResult is the outcome of the last step: the refusals to show
// (nothing was changed) with the rules as evaluated, or the activated
// account.
type PasswordResult struct {
	Refusals refusal.List
	Rules    []policy.Rule
	Account  account.Account
}

// mailbox builds the institutional address from the pattern, and adds a
// number when it is taken: marie.dupont@, marie.dupont2@, …
func (s *Service) mailbox(ctx context.Context, acc account.Account, pop Population) (string, error) {
	local := LocalPart(pop.MailboxPattern, acc.FirstName, acc.LastName)
	if local == "" {
		local = account.NormaliseIdentifier(acc.Identifier)
	}
	for n := 1; n < 1000; n++ {
		addr := local + "@" + pop.MailboxDomain
		if n > 1 {
			addr = fmt.Sprintf("%s%d@%s", local, n, pop.MailboxDomain)
		}
		ok, err := s.Store.ClaimMailbox(ctx, addr, acc.ID)
		if err != nil {
			return "", err
		}
		if ok {
			return addr, nil
		}
	}
	return "", fmt.Errorf("activation: no free mailbox for %s", local)
}

// LocalPart applies a pattern to a name: accents and spaces removed, lower
// case, letters, digits and hyphens kept.
func LocalPart(pattern, first, last string) string {
	f, l := slug(first), slug(last)
	if f == "" || l == "" {
		return ""
	}
	switch pattern {
	case "p.nom":
		return f[:1] + "." + l
	case "nom.prenom":
		return l + "." + f
	case "prenom-nom":
		return f + "-" + l
	}
	return f + "." + l
}

func slug(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(strings.ToLower(strings.TrimSpace(s))) {
		switch {
		case unicode.Is(unicode.Mn, r):
			// combining accent: dropped
		case r == 'œ':
			b.WriteString("oe")
		case r == 'æ':
			b.WriteString("ae")
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '-':
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "-") {
				b.WriteRune(r)
			}
		}
	}
	return strings.Trim(b.String(), "-")
}

func (s *Service) save(ctx context.Context, f *Flow) error {
	f.Version++
	if err := s.Store.SaveActivation(ctx, *f); err != nil {
		return fmt.Errorf("activation: save: %w", err)
	}
	return nil
}

func (s *Service) link(flowID, token string) string {
	u := *s.BaseURL
	u.Path += paths.ActivationConfirm
	u.RawQuery = url.Values{"flow": {flowID}, "token": {token}}.Encode()
	return u.String()
}

func (s *Service) keyed(purpose, v string) string {
	m := hmac.New(sha256.New, s.Key)
	m.Write([]byte(purpose + "\x00" + v))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

func (s *Service) audit(ctx context.Context, action, id, ip, outcome string) {
	if s.Audit != nil {
		_ = s.Audit.Record(ctx, audit.Event{At: s.Now(), Action: action, AccountID: id, IP: ip, Outcome: outcome})
	}
}

func idIf(ok bool, id string) string {
	if ok {
		return id
	}
	return ""
}
