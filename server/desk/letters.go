package desk

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/refusal"
)

// Letter is one printed page: whom it is for, the provisional password in
// clear, and until when it works. It lives only until the caller has
// written its PDF.
type Letter struct {
	Account    account.Account
	Password   string
	ValidUntil time.Time
}

// The provisional passwords' alphabet: lower-case letters and digits
// without 0/o, 1/l/i, which people misread on paper (31 symbols, as the
// recovery codes).
const provisionalAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// ProvisionalLength gives 13 × log2(31) ≈ 64.4 bits, above the 60 asked.
const ProvisionalLength = 13

// NewProvisional draws a provisional password from crypto/rand, by
// rejection sampling so that every symbol is equally likely.
func NewProvisional() string {
	var b strings.Builder
	buf := make([]byte, 1)
	limit := byte(256 - 256%len(provisionalAlphabet))
	for b.Len() < ProvisionalLength {
		_, _ = rand.Read(buf) // crypto/rand never fails; it crashes the program instead
		if buf[0] >= limit {
			continue
		}
		b.WriteByte(provisionalAlphabet[int(buf[0])%len(provisionalAlphabet)])
	}
	return b.String()
}

// Reauth checks the agent's own password again before an action that
// creates provisional passwords: a console left open must not print
// letters for whoever sits down.
func (s *Service) Reauth(ctx context.Context, agent account.Account, current, ip string) (refusal.List, error) {
	ok, wait, err := s.Check.CheckPassword(ctx, agent, current, ip)
	if err != nil {
		return nil, err
	}
	if wait > 0 {
		return refusal.List{{Field: "current", Reason: refusal.Throttled, Wait: wait}}, nil
	}
	if !ok {
		if current == "" {
			return refusal.List{}.Add("current", refusal.Missing), nil
		}
		return refusal.List{}.Add("current", refusal.Wrong), nil
	}
	return nil, nil
}

// IssueLetter gives one person a new provisional password and its letter:
// the account becomes pending, its sessions end, its activation in
// progress is abandoned, and the old password and every earlier letter
// stop working. The agent types their own password first.
//
// When the new password was stored but a later step failed, the letter is
// returned with the error: the account no longer opens with anything
// else, so the letter must still be printed.
func (s *Service) IssueLetter(ctx context.Context, agent account.Account, id, current, ip string) (Letter, refusal.List, error) {
	acc, err := s.target(ctx, agent, ActionLetter, id, ip)
	if err != nil {
		return Letter{}, nil, err
	}
	if l, err := s.Reauth(ctx, agent, current, ip); err != nil || len(l) > 0 {
		if len(l) > 0 {
			s.record(ctx, ActionLetter, agent, acc.ID, ip, "wrong_current")
		}
		return Letter{}, l, err
	}
	letter, err := s.issue(ctx, acc)
	if letter.Password != "" {
		s.record(ctx, ActionLetter, agent, acc.ID, ip, "ok")
	}
	return letter, nil, err
}

// IncompleteError says a batch stopped partway. The letters returned with
// it were issued (their accounts no longer open with anything else) and
// must be printed all the same; Missing accounts got no new password and
// are as they were.
type IncompleteError struct {
	Missing int
	Err     error
}

func (e *IncompleteError) Error() string {
	return fmt.Sprintf("desk: %d letter(s) not issued: %v", e.Missing, e.Err)
}

func (e *IncompleteError) Unwrap() error { return e.Err }

// IssueBatch prints a letter for every pending account of a population
// (that the agent may act on), sorted by name. Each gets a new
// provisional password: the earlier letters stop working. A batch that
// fails partway returns the letters it issued with an *IncompleteError.
func (s *Service) IssueBatch(ctx context.Context, agent account.Account, population, current, ip string) ([]Letter, refusal.List, error) {
	if s.Agent(agent) == None {
		return nil, nil, ErrNotFound
	}
	accs, err := s.Accounts.PendingAccounts(ctx, population)
	if err != nil {
		return nil, nil, fmt.Errorf("desk: batch: %w", err)
	}
	return s.issueFor(ctx, agent, accs, current, ip)
}

// IssueFor prints a letter for each of ids that is a pending account the
// agent may act on (the pending accounts of one import), sorted by name.
// Only admins print letters for an import.
func (s *Service) IssueFor(ctx context.Context, agent account.Account, ids []string, current, ip string) ([]Letter, refusal.List, error) {
	if s.Agent(agent) != Admin {
		return nil, nil, ErrNotFound
	}
	var accs []account.Account
	for _, id := range ids {
		a, err := s.Accounts.GetAccount(ctx, id)
		if errors.Is(err, account.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("desk: import letters: %w", err)
		}
		if a.Status == account.StatusPending {
			accs = append(accs, a)
		}
	}
	return s.issueFor(ctx, agent, accs, current, ip)
}

// issueFor checks the agent's password, then issues the letters of the
// accounts the agent may act on, auditing each one issued.
func (s *Service) issueFor(ctx context.Context, agent account.Account, accs []account.Account, current, ip string) ([]Letter, refusal.List, error) {
	if l, err := s.Reauth(ctx, agent, current, ip); err != nil || len(l) > 0 {
		return nil, l, err
	}
	accs = slices.DeleteFunc(accs, func(a account.Account) bool { return !s.MayActOn(agent, a) })
	letters, err := s.IssueAll(ctx, accs)
	for _, l := range letters {
		s.record(ctx, ActionBatch, agent, l.Account.ID, ip, "ok")
	}
	return letters, nil, err
}

// IssueAll gives each account a new provisional password, hashing on
// parallel workers (the hash dominates), and returns the letters sorted by
// name. The import's --letters calls it for the accounts it created.
//
// It stops at the first failure, but never loses a letter: every account
// whose new password was stored is in the letters returned, with an
// *IncompleteError counting the accounts left as they were.
func (s *Service) IssueAll(ctx context.Context, accs []account.Account) ([]Letter, error) {
	out := make([]Letter, len(accs))
	errs := make([]error, len(accs))
	var wg sync.WaitGroup
	var failed atomic.Bool
	next := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range next {
				out[i], errs[i] = s.issue(ctx, accs[i])
				if errs[i] != nil {
					failed.Store(true)
				}
			}
		})
	}
	for i := range accs {
		if ctx.Err() != nil || failed.Load() {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	letters := slices.DeleteFunc(out, func(l Letter) bool { return l.Password == "" })
	SortByName(letters)
	first := ctx.Err()
	for _, err := range errs {
		if err != nil {
			first = err
			break
		}
	}
	if missing := len(accs) - len(letters); missing > 0 {
		if first == nil {
			first = errors.New("desk: letters not issued")
		}
		return letters, &IncompleteError{Missing: missing, Err: first}
	}
	if first != nil {
		// Every letter was issued, but a later step of one failed (its
		// sessions or activation): the letters stand, the error is told.
		return letters, &IncompleteError{Err: first}
	}
	return letters, nil
}

// SortByName orders letters as an office files them: last name, first
// name, then identifier, accents and case ignored.
func SortByName(ls []Letter) {
	slices.SortFunc(ls, func(a, b Letter) int {
		return cmp.Or(
			strings.Compare(Fold(a.Account.LastName), Fold(b.Account.LastName)),
			strings.Compare(Fold(a.Account.FirstName), Fold(b.Account.FirstName)),
			strings.Compare(a.Account.ID, b.Account.ID))
	})
}

// issue draws, hashes and stores a new provisional password for acc.
func (s *Service) issue(ctx context.Context, acc account.Account) (Letter, error) {
	pw := NewProvisional()
	hash, err := s.Hasher.Hash(pw)
	if err != nil {
		return Letter{}, fmt.Errorf("desk: letter: %w", err)
	}
	now := s.Now()
	local := now
	if s.Location != nil {
		local = now.In(s.Location)
	}
	until := ValidUntil(local, s.ValidDays)
	p := account.Patch{
		PasswordHash: account.Set(hash), PasswordSetBy: account.Set(account.SetByOffice),
		Status: account.Set(account.StatusPending), ProvisionalUntil: account.Set(until),
		// Codes issued before now are void, and so is a pending change of
		// address: the account starts again from its letter.
		PasswordChangedAt: account.Set(now),
		PendingEmail:      account.Set(""), PendingEmailID: account.Set(""),
	}
	if err := s.Accounts.PatchAccount(ctx, acc.ID, p, now); err != nil {
		return Letter{}, fmt.Errorf("desk: letter: %w", err)
	}
	// From here on the account opens with this password only: the letter
	// is returned whatever fails next, so that it is printed.
	acc.Status, acc.PasswordSetBy, acc.ProvisionalUntil = account.StatusPending, account.SetByOffice, until
	acc.PasswordHash = ""
	letter := Letter{Account: acc, Password: pw, ValidUntil: until}
	if err := s.Sessions.RevokeAll(ctx, acc.ID); err != nil {
		return letter, fmt.Errorf("desk: letter: end sessions: %w", err)
	}
	if err := s.Activations.Abandon(ctx, acc.ID); err != nil {
		return letter, fmt.Errorf("desk: letter: abandon activation: %w", err)
	}
	return letter, nil
}

// ValidUntil is the last moment of a letter issued at now: the end of the
// day, days later.
func ValidUntil(now time.Time, days int) time.Time {
	d := now.AddDate(0, 0, days)
	return time.Date(d.Year(), d.Month(), d.Day(), 23, 59, 59, 0, d.Location())
}
