package desk

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"sync"
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
	if err != nil {
		return Letter{}, nil, err
	}
	s.record(ctx, ActionLetter, agent, acc.ID, ip, "ok")
	return letter, nil, nil
}

// IssueBatch prints a letter for every pending account of a population
// (that the agent may act on), sorted by name. Each gets a new
// provisional password: the earlier letters stop working.
func (s *Service) IssueBatch(ctx context.Context, agent account.Account, population, current, ip string) ([]Letter, refusal.List, error) {
	if s.Agent(agent) == None {
		return nil, nil, ErrNotFound
	}
	if l, err := s.Reauth(ctx, agent, current, ip); err != nil || len(l) > 0 {
		return nil, l, err
	}
	accs, err := s.Accounts.PendingAccounts(ctx, population)
	if err != nil {
		return nil, nil, fmt.Errorf("desk: batch: %w", err)
	}
	accs = slices.DeleteFunc(accs, func(a account.Account) bool { return !s.MayActOn(agent, a) })
	letters, err := s.IssueAll(ctx, accs)
	if err != nil {
		return nil, nil, err
	}
	for _, l := range letters {
		s.record(ctx, ActionBatch, agent, l.Account.ID, ip, "ok")
	}
	return letters, nil, nil
}

// IssueAll gives each account a new provisional password, hashing on
// parallel workers (the hash dominates), and returns the letters sorted by
// name. The import's --letters calls it for the accounts it created.
func (s *Service) IssueAll(ctx context.Context, accs []account.Account) ([]Letter, error) {
	out := make([]Letter, len(accs))
	errs := make([]error, len(accs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range next {
				out[i], errs[i] = s.issue(ctx, accs[i])
			}
		})
	}
	for i := range accs {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	SortByName(out)
	return out, nil
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
	if err := s.Sessions.RevokeAll(ctx, acc.ID); err != nil {
		return Letter{}, fmt.Errorf("desk: letter: %w", err)
	}
	if err := s.Activations.Abandon(ctx, acc.ID); err != nil {
		return Letter{}, fmt.Errorf("desk: letter: %w", err)
	}
	acc.Status, acc.PasswordSetBy, acc.ProvisionalUntil = account.StatusPending, account.SetByOffice, until
	acc.PasswordHash = ""
	return Letter{Account: acc, Password: pw, ValidUntil: until}, nil
}

// ValidUntil is the last moment of a letter issued at now: the end of the
// day, days later.
func ValidUntil(now time.Time, days int) time.Time {
	d := now.AddDate(0, 0, days)
	return time.Date(d.Year(), d.Month(), d.Day(), 23, 59, 59, 0, d.Location())
}
