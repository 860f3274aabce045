package recovery

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/paths"
)

// enqueue hands a flow to the dispatcher without ever blocking the
// request: when the queue is full, the periodic scan picks the flow up.
// A flow already queued or being processed here is not queued again.
func (s *Service) enqueue(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.held[id]; ok {
		return
	}
	select {
	case s.queue <- id:
		s.held[id] = struct{}{}
	default:
	}
}

// release says that this process is done with flow id.
func (s *Service) release(id string) {
	s.mu.Lock()
	delete(s.held, id)
	s.mu.Unlock()
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
					s.release(id)
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

// Process does a flow's pending work: look up what was typed (in every
// population; active accounts get the code, pending ones a mail saying how
// to activate), then issue a code and queue its mail, or queue the
// identifier reminder. Several instances may try the
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
	// The accounts the flow names: just looked up, or read again by id
	// when an earlier attempt looked them up and stopped (a crash, a
	// conflict).
	var accs []account.Account
	if f.Request != "" {
		active, pending, err := s.lookup(ctx, f)
		if err != nil {
			return err
		}
		accs = active
		f.Accounts = nil
		for _, a := range accs {
			f.Accounts = append(f.Accounts, a.ID)
		}
		// An account not yet activated has no password to reset: its
		// owner would wait for a code that never comes. Its address is
		// told how to activate instead; the screen said the same as for
		// anyone, so nothing tells a stranger the account exists.
		if err := s.activateFirst(ctx, f, pending); err != nil {
			return err
		}
		f.Request = "" // looked up: the typed identifier is no longer kept
	} else {
		var err error
		if accs, err = s.Candidates(ctx, f); err != nil {
			return err
		}
	}

	if f.Kind == KindIdentifier {
		accs, err := s.withinBudget(ctx, f, accs)
		if err != nil {
			return err
		}
		if accs, _, err = s.addressesWithinBudget(ctx, f, accs, nil); err != nil {
			return err
		}
		// The mail is queued before the flow goes: a crash in between
		// runs this again, and the keyed queueing sends it once.
		if len(accs) > 0 {
			n := ReminderNotice{Lang: f.Lang, To: accs[0].Email, Accounts: accs, Key: "reminder|" + f.ID}
			for _, a := range accs {
				n.Links = append(n.Links, s.link(paths.Recovery, url.Values{"population": {f.Population}, "identifier": {a.Identifier}}))
			}
			// A child with no address of their own forgets their
			// identifier too: their guardians' mail lists it.
			children, err := s.childrenWithoutAddress(ctx, accs)
			if err != nil {
				return err
			}
			n.Children = children
			if err := s.Notifier.IdentifierReminder(ctx, n); err != nil {
				return fmt.Errorf("recovery: queue reminder: %w", err)
			}
			s.audit(ctx, "recovery.reminder_sent", accs[0].ID, f.IP, "ok", f.ID)
		}
		// Nothing more will happen in this flow: its data goes now.
		return s.Store.DeleteFlow(ctx, f.ID)
	}

	if f.State != StateCodeSent {
		// Past the code already (see sent): nothing more to mail.
		f.Pending = false
		return s.save(ctx, &f)
	}
	var guardians []account.Account
	var err error
	if len(accs) == 1 && accs[0].Email == "" {
		// A student with no address of their own: the code goes to their
		// guardians, who give it to them.
		if guardians, err = s.guardiansOf(ctx, accs[0]); err != nil {
			return err
		}
	}
	if len(accs) == 0 || (accs[0].Email == "" && len(guardians) == 0) {
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
	if accs, guardians, err = s.addressesWithinBudget(ctx, f, accs, guardians); err != nil {
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
	if len(guardians) > 0 {
		// One code, one flow, one count against the child's budget: every
		// guardian gets the same code, and the first one typed ends it.
		for _, g := range guardians {
			err = s.Notifier.GuardianCode(ctx, GuardianCodeNotice{
				Lang: f.Lang, To: g.Email, Guardian: g, Child: accs[0], Code: code,
				ValidFor: f.CodeExpiresAt.Sub(f.CodeSentAt), Device: f.Device, At: f.CreatedAt, FlowID: f.ID,
				Key: fmt.Sprintf("code|%s|%d|%s", f.ID, f.Version, g.ID),
			})
			if err != nil {
				return fmt.Errorf("recovery: queue guardian code: %w", err)
			}
		}
	} else {
		err = s.Notifier.RecoveryCode(ctx, CodeNotice{
			Lang: f.Lang, To: accs[0].Email, Accounts: accs, Code: code,
			Link:     s.link(paths.RecoveryCode, url.Values{"flow": {f.ID}, "code": {code}}),
			ValidFor: f.CodeExpiresAt.Sub(f.CodeSentAt), FlowID: f.ID,
			Key: fmt.Sprintf("code|%s|%d", f.ID, f.Version),
		})
		if err != nil {
			return fmt.Errorf("recovery: queue code: %w", err)
		}
	}
	err = s.sent(ctx, f)
	if err == nil || errors.Is(err, ErrConflict) {
		s.audit(ctx, "recovery.code_sent", accs[0].ID, f.IP, "ok", f.ID)
	}
	return err
}

// sent clears the pending mark of f, whose code's mail is queued. The
// mail can reach the person before this write, and a code typed at once
// writes the flow first: then the mark is cleared on the flow as it now
// is. Running the whole step again instead would draw and mail a second
// code that nobody asked for. A resend that replaced the code since keeps
// its mark, and sent returns ErrConflict so that Process runs the step
// again for it at once: the resend's own hand-off to the dispatcher found
// the flow held here and was dropped.
func (s *Service) sent(ctx context.Context, f Flow) error {
	drawn := f.CodeHash
	for try := 0; ; try++ {
		f.Pending = false
		err := s.save(ctx, &f)
		if !errors.Is(err, ErrConflict) || try == 4 {
			return err
		}
		f, err = s.Store.GetFlow(ctx, f.ID)
		if errors.Is(err, ErrNotFound) {
			return nil // ended meanwhile (its last try spent)
		}
		if err != nil {
			return err
		}
		if !f.Pending {
			return nil
		}
		if f.State == StateCodeSent && f.CodeHash != drawn {
			return ErrConflict
		}
	}
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

// addressesWithinBudget counts the mail this flow is about to send against
// the budget of each address it goes to: the account's own, or each
// guardian's. It returns no accounts when no address may be mailed, and
// the guardians whose address may.
func (s *Service) addressesWithinBudget(ctx context.Context, f Flow, accs, guardians []account.Account) ([]account.Account, []account.Account, error) {
	if len(accs) == 0 {
		return nil, nil, nil
	}
	if len(guardians) == 0 {
		ok, err := s.addressWithinBudget(ctx, f, accs[0].ID, accs[0].Email)
		if err != nil || !ok {
			return nil, nil, err
		}
		return accs, nil, nil
	}
	var keep []account.Account
	for _, g := range guardians {
		ok, err := s.addressWithinBudget(ctx, f, accs[0].ID, g.Email)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			keep = append(keep, g)
		}
	}
	if len(keep) == 0 {
		return nil, nil, nil
	}
	return accs, keep, nil
}

// addressWithinBudget counts one mail to address. Each address has a
// budget of its own besides each account's: an address shared by several
// accounts (a parent's children, a guardian's) would otherwise receive
// each account's share in the hour. The rate limit's key is a MAC of the
// address, so that the limits' collection holds no address in clear.
func (s *Service) addressWithinBudget(ctx context.Context, f Flow, accountID, address string) (bool, error) {
	key := "recovery-address:" + requestKey(s.Key, "address", account.NormaliseEmail(address))
	d, err := s.Limiter.Allow(ctx, key, s.cfg.CodesPerHour, time.Hour)
	if err != nil {
		return false, err
	}
	if !d.Allowed {
		s.audit(ctx, "recovery.mail", accountID, f.IP, "address_budget_spent", f.ID)
	}
	return d.Allowed, nil
}

// lookup finds the accounts a request names: the active ones a code or a
// reminder may go to, and the pending ones with an address, told to
// activate first. An e-mail may name several (a parent's children); an
// identifier one. The population chosen on the chooser picks the words and
// the help desk, never which accounts are found: a parent who clicked « Je
// suis élève » still gets their code.
func (s *Service) lookup(ctx context.Context, f Flow) (active, pending []account.Account, err error) {
	var found []account.Account
	if account.IsEmail(f.Request) {
		all, err := s.Accounts.AccountsByEmail(ctx, f.Request)
		if err != nil {
			return nil, nil, err
		}
		found = all
	} else if f.Kind == KindPassword {
		a, err := s.Accounts.GetAccount(ctx, f.Request)
		if err != nil && !errors.Is(err, account.ErrNotFound) {
			return nil, nil, err
		}
		if err == nil {
			found = []account.Account{a}
		}
	}
	// Identifier reminders go to the address typed; codes go to the
	// account's address, or to its guardians' when it has none.
	for _, a := range found {
		switch {
		case a.Status == account.StatusActive && (a.Email != "" || len(a.Guardians) > 0):
			active = append(active, a)
		case a.Status != account.StatusActive:
			// What was found but cannot be mailed a code is audited under
			// the account, after the answer has gone: the office console
			// shows it (« compte non activé », « pas d'adresse »).
			s.audit(ctx, "recovery.lookup", a.ID, f.IP, "pending", f.ID)
			if a.Status == account.StatusPending && a.Email != "" {
				pending = append(pending, a)
			}
		default:
			s.audit(ctx, "recovery.lookup", a.ID, f.IP, "no_address", f.ID)
		}
	}
	return active, pending, nil
}

// activateFirst mails the address of accounts not yet activated how to
// activate them, within each account's hourly budget of mails.
func (s *Service) activateFirst(ctx context.Context, f Flow, pending []account.Account) error {
	if len(pending) == 0 {
		return nil
	}
	pending, err := s.withinBudget(ctx, f, pending)
	if err != nil || len(pending) == 0 {
		return err
	}
	if ok, err := s.addressWithinBudget(ctx, f, pending[0].ID, pending[0].Email); err != nil || !ok {
		return err
	}
	n := ActivateFirstNotice{Lang: f.Lang, To: pending[0].Email, Key: "activate-first|" + f.ID}
	for _, a := range pending {
		if a.Email != n.To {
			continue
		}
		n.Accounts = append(n.Accounts, a)
		n.Links = append(n.Links, s.link(paths.Activation, url.Values{"identifier": {a.Identifier}}))
	}
	if err := s.Notifier.ActivateFirst(ctx, n); err != nil {
		return fmt.Errorf("recovery: queue activation notice: %w", err)
	}
	s.audit(ctx, "recovery.activate_first", pending[0].ID, f.IP, "pending_account", f.ID)
	return nil
}

// guardiansOf returns the guardians of a child who can receive a code:
// active accounts with an address.
func (s *Service) guardiansOf(ctx context.Context, child account.Account) ([]account.Account, error) {
	var out []account.Account
	// Two guardians sharing one address (two parents, one family mailbox)
	// get the code once, in the first one's name.
	seen := map[string]bool{}
	for _, id := range child.Guardians {
		g, err := s.Accounts.GetAccount(ctx, id)
		if errors.Is(err, account.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if a := account.NormaliseEmail(g.Email); g.Status == account.StatusActive && g.Email != "" && !seen[a] {
			seen[a] = true
			out = append(out, g)
		}
	}
	return out, nil
}

// childrenWithoutAddress returns the active children of these guardians who
// have no address of their own.
func (s *Service) childrenWithoutAddress(ctx context.Context, guardians []account.Account) ([]account.Account, error) {
	var out []account.Account
	seen := map[string]bool{}
	for _, g := range guardians {
		children, err := s.Accounts.ChildrenOf(ctx, g.ID)
		if err != nil {
			return nil, err
		}
		for _, c := range children {
			if c.Email == "" && c.Status == account.StatusActive && !seen[c.ID] {
				seen[c.ID] = true
				out = append(out, c)
			}
		}
	}
	return out, nil
}

func (s *Service) link(path string, q url.Values) string {
	u := *s.cfg.BaseURL
	u.Path += path
	u.RawQuery = q.Encode()
	return u.String()
}
