package recovery

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/sesame-edu/sesame/server/account"
)

// enqueue hands a flow to the dispatcher without ever blocking the
// request: when the queue is full, the periodic scan picks the flow up.
func (s *Service) enqueue(id string) {
	select {
	case s.queue <- id:
	default:
	}
}

// Run processes pending flows until ctx ends: workers take them from the
// in-process queue, and a scan every few seconds finds those left by a full
// queue, a crash, or another instance that stopped; it also sweeps expired
// flows.
func (s *Service) Run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case id := <-s.queue:
					if err := s.Process(ctx, id); err != nil && ctx.Err() == nil {
						s.Log.Error("recovery: process flow", "flow", id, "err", err)
					}
				}
			}
		}()
	}
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
			s.scan(ctx)
		}
	}
}

func (s *Service) scan(ctx context.Context) {
	now := s.Now()
	ids, err := s.Store.PendingFlows(ctx, now.Add(-5*time.Second))
	if err != nil && ctx.Err() == nil {
		s.Log.Error("recovery: scan pending flows", "err", err)
	}
	for _, id := range ids {
		s.enqueue(id)
	}
	if n, err := s.Store.SweepFlows(ctx, now); err != nil {
		if ctx.Err() == nil {
			s.Log.Error("recovery: sweep flows", "err", err)
		}
	} else if n > 0 {
		s.Log.Debug("recovery: expired flows deleted", "count", n)
	}
}

// Process does a flow's pending work: look up what was typed (only inside
// the chosen population, only active accounts), then issue a code and queue
// its mail, or queue the identifier reminder. Several instances may try the
// same flow; the versioned write lets one win, and only the winner mails.
func (s *Service) Process(ctx context.Context, id string) error {
	for try := 0; try < 5; try++ {
		f, err := s.Store.GetFlow(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !f.Pending {
			return nil
		}
		err = s.process(ctx, f)
		if errors.Is(err, ErrConflict) {
			continue
		}
		return err
	}
	return fmt.Errorf("recovery: process %s: %w", id, ErrConflict)
}

func (s *Service) process(ctx context.Context, f Flow) error {
	if f.Request != "" {
		accs, err := s.lookup(ctx, f)
		if err != nil {
			return err
		}
		f.Accounts = nil
		for _, a := range accs {
			f.Accounts = append(f.Accounts, a.ID)
		}
		f.Request = "" // looked up: the typed identifier is no longer kept
	}

	if f.Kind == KindIdentifier {
		accs, err := s.Candidates(ctx, f)
		if err != nil {
			return err
		}
		if accs, err = s.withinBudget(ctx, f, accs); err != nil {
			return err
		}
		// The mail is queued before the flow goes: a crash in between
		// runs this again, and the keyed queueing sends it once.
		if len(accs) > 0 {
			n := ReminderNotice{Lang: f.Lang, To: accs[0].Email, Accounts: accs, Key: "reminder|" + f.ID}
			for _, a := range accs {
				n.Links = append(n.Links, s.link("/recovery", url.Values{"population": {f.Population}, "identifier": {a.Identifier}}))
			}
			if err := s.Notifier.IdentifierReminder(ctx, n); err != nil {
				return fmt.Errorf("recovery: queue reminder: %w", err)
			}
			s.audit(ctx, "recovery.reminder_sent", accs[0].ID, f.IP, "ok", f.ID)
		}
		// Nothing more will happen in this flow: its data goes now.
		return s.Store.DeleteFlow(ctx, f.ID)
	}

	accs, err := s.Candidates(ctx, f)
	if err != nil {
		return err
	}
	if len(accs) == 0 || accs[0].Email == "" {
		// Nobody to write to: the flow waits at step 2 like any other.
		f.Pending = false
		return s.save(ctx, &f)
	}
	if f.CodeHash != "" && s.Now().Sub(f.UpdatedAt) < 5*time.Second {
		// Another dispatcher (this instance or another) drew a code a
		// moment ago and is queueing its mail.
		return nil
	}
	if accs, err = s.withinBudget(ctx, f, accs); err != nil {
		return err
	}
	if len(accs) == 0 {
		// Every account named has had its mails for the hour: the flow
		// waits at step 2 like one for an unknown identifier.
		f.Pending = false
		return s.save(ctx, &f)
	}
	// Three writes, in an order that loses nothing: the code's hash is
	// saved while the flow stays pending; the mail is queued under a key
	// naming that version; only then is the flow no longer pending. A crash
	// before the end leaves a pending flow that the scan takes up again
	// (with a new code: the old one was never stored in clear).
	code := newCode()
	f.CodeHash = hashCode(s.Key, f.ID, code)
	if err := s.save(ctx, &f); err != nil {
		return err
	}
	err = s.Notifier.RecoveryCode(ctx, CodeNotice{
		Lang: f.Lang, To: accs[0].Email, Accounts: accs, Code: code,
		Link:     s.link("/recovery/code", url.Values{"flow": {f.ID}, "code": {code}}),
		ValidFor: f.CodeExpiresAt.Sub(f.CodeSentAt), FlowID: f.ID,
		Key: fmt.Sprintf("code|%s|%d", f.ID, f.Version),
	})
	if err != nil {
		return fmt.Errorf("recovery: queue code: %w", err)
	}
	f.Pending = false
	if err := s.save(ctx, &f); err != nil {
		return err
	}
	s.audit(ctx, "recovery.code_sent", accs[0].ID, f.IP, "ok", f.ID)
	return nil
}

// withinBudget keeps the accounts that may still be mailed this hour. The
// budget is per account, whatever was typed to reach it (identifier or
// address, password or identifier reminder): the limit per typed text
// alone let one account receive twice its share. Each hit is counted
// before the mail is queued, atomically across instances.
func (s *Service) withinBudget(ctx context.Context, f Flow, accs []account.Account) ([]account.Account, error) {
	var keep []account.Account
	for _, a := range accs {
		d, err := s.Limiter.Allow(ctx, "recovery-account:"+a.ID, s.cfg.CodesPerHour, time.Hour)
		if err != nil {
			return nil, err
		}
		if d.Allowed {
			keep = append(keep, a)
		} else {
			s.audit(ctx, "recovery.mail", a.ID, f.IP, "account_budget_spent", f.ID)
		}
	}
	return keep, nil
}

// lookup finds the active accounts a request names, inside its population.
// An e-mail may name several (a parent's children); an identifier one.
func (s *Service) lookup(ctx context.Context, f Flow) ([]account.Account, error) {
	var found []account.Account
	if account.IsEmail(f.Request) {
		all, err := s.Accounts.AccountsByEmail(ctx, f.Request)
		if err != nil {
			return nil, err
		}
		found = all
	} else if f.Kind == KindPassword {
		a, err := s.Accounts.GetAccount(ctx, f.Request)
		if err != nil && !errors.Is(err, account.ErrNotFound) {
			return nil, err
		}
		if err == nil {
			found = []account.Account{a}
		}
	}
	return slices.DeleteFunc(found, func(a account.Account) bool {
		return a.Status != account.StatusActive || !s.inPopulation(a, f.Population) || a.Email == ""
	}), nil
}

// inPopulation matches an account to the population chosen on the
// chooser; with a single configured population, every account is in it.
func (s *Service) inPopulation(a account.Account, population string) bool {
	return population == "" || population == a.Population || s.SinglePopulation
}

func (s *Service) link(path string, q url.Values) string {
	u := *s.cfg.BaseURL
	u.Path += path
	u.RawQuery = q.Encode()
	return u.String()
}
