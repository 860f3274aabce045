package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sesame-edu/sesame/server/account"
)

// accountDoc is an account as stored. _id is the normalised identifier, so
// that sign-in and recovery find it with a key lookup.
type accountDoc struct {
	ID            string    `bson:"_id"`
	Identifier    string    `bson:"identifier"`
	Subject       string    `bson:"subject,omitempty"`
	Email         string    `bson:"email,omitempty"`
	FirstName     string    `bson:"firstName"`
	LastName      string    `bson:"lastName"`
	Population    string    `bson:"population"`
	Status        string    `bson:"status"`
	PasswordHash  string    `bson:"passwordHash"`
	PasswordSetBy string    `bson:"passwordSetBy"`
	PwChangedAt   time.Time `bson:"passwordChangedAt,omitempty"`
	ProvUntil     time.Time `bson:"provisionalUntil,omitempty"`
	Phone         string    `bson:"phone,omitempty"`
	Newsletter    bool      `bson:"newsletter"`
	NewsletterAt  time.Time `bson:"newsletterAt,omitempty"`
	EmailSetBy    string    `bson:"emailSetBy,omitempty"`
	PendingEmail  string    `bson:"pendingEmail,omitempty"`
	PendingID     string    `bson:"pendingEmailId,omitempty"`
	CharterVer    string    `bson:"charterVersion,omitempty"`
	CharterAt     time.Time `bson:"charterAt,omitempty"`
	Directory     bool      `bson:"directory"`
	DirectoryAt   time.Time `bson:"directoryAt,omitempty"`
	RedirectTo    string    `bson:"redirectTo,omitempty"`
	RedirectCopy  bool      `bson:"redirectCopy"`
	Mailbox       string    `bson:"mailbox,omitempty"`
	ActivatedAt   time.Time `bson:"activatedAt,omitempty"`
	Guardians     []string  `bson:"guardians,omitempty"`
	CreatedAt     time.Time `bson:"createdAt"`
	UpdatedAt     time.Time `bson:"updatedAt"`
}

// emailDoc lists the accounts sharing one address. It exists because the
// embedded server cannot use a secondary index: looking an address up by
// _id here is a key lookup, where a query on accounts.email would scan every
// account. It is kept in step without transactions: an address is added
// before the account is written and removed after, and readers check each
// account's own address, so a crash in between leaves at worst a stale entry
// that is ignored.
type emailDoc struct {
	ID  string   `bson:"_id"`
	IDs []string `bson:"ids"`
}

func fromAccount(a account.Account) accountDoc {
	return accountDoc{
		ID: a.ID, Identifier: a.Identifier, Subject: a.Subject, Email: a.Email,
		FirstName: a.FirstName, LastName: a.LastName, Population: a.Population,
		Status: string(a.Status), PasswordHash: a.PasswordHash, PasswordSetBy: a.PasswordSetBy,
		PwChangedAt: a.PasswordChangedAt, ProvUntil: a.ProvisionalUntil, Phone: a.Phone, Newsletter: a.Newsletter, NewsletterAt: a.NewsletterAt,
		EmailSetBy: a.EmailSetBy, PendingEmail: a.PendingEmail, PendingID: a.PendingEmailID, CharterVer: a.CharterVersion, CharterAt: a.CharterAt,
		Directory: a.Directory, DirectoryAt: a.DirectoryAt, RedirectTo: a.RedirectTo, RedirectCopy: a.RedirectCopy,
		Mailbox: a.Mailbox, ActivatedAt: a.ActivatedAt, Guardians: a.Guardians, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
}

func (d accountDoc) account() account.Account {
	return account.Account{
		ID: d.ID, Identifier: d.Identifier, Subject: d.Subject, Email: d.Email,
		FirstName: d.FirstName, LastName: d.LastName, Population: d.Population,
		Status: account.Status(d.Status), PasswordHash: d.PasswordHash, PasswordSetBy: d.PasswordSetBy,
		PasswordChangedAt: utc(d.PwChangedAt), ProvisionalUntil: utc(d.ProvUntil), Phone: d.Phone, Newsletter: d.Newsletter, NewsletterAt: utc(d.NewsletterAt),
		EmailSetBy: d.EmailSetBy, PendingEmail: d.PendingEmail, PendingEmailID: d.PendingID, CharterVersion: d.CharterVer, CharterAt: utc(d.CharterAt),
		Directory: d.Directory, DirectoryAt: utc(d.DirectoryAt), RedirectTo: d.RedirectTo, RedirectCopy: d.RedirectCopy,
		Mailbox: d.Mailbox, ActivatedAt: utc(d.ActivatedAt), Guardians: d.Guardians, CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(),
	}
}

// GetAccount returns the account with this normalised identifier.
func (s Accounts) GetAccount(ctx context.Context, id string) (account.Account, error) {
	var d accountDoc
	err := s.db.Collection(colAccounts).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return account.Account{}, account.ErrNotFound
	}
	if err != nil {
		return account.Account{}, fmt.Errorf("store: get account: %w", err)
	}
	return d.account(), nil
}

// SaveAccount creates or replaces an account and keeps the e-mail index in
// step. Only tests and the benchmark's seeding write whole accounts; the
// application creates with CreateAccount and changes with PatchAccount.
func (s Accounts) SaveAccount(ctx context.Context, a account.Account, previousEmail string) error {
	newKey, oldKey := account.NormaliseEmail(a.Email), account.NormaliseEmail(previousEmail)
	if newKey != "" && newKey != oldKey {
		if err := s.addEmail(ctx, newKey, a.ID); err != nil {
			return err
		}
	}
	_, err := s.wdb.Collection(colAccounts).ReplaceOne(ctx,
		bson.D{{Key: "_id", Value: a.ID}}, fromAccount(a), options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("store: save account: %w", err)
	}
	if oldKey != "" && oldKey != newKey {
		if err := s.removeEmail(ctx, oldKey, a.ID); err != nil {
			return err
		}
	}
	return nil
}

// CreateAccount stores a new account; account.ErrConflict when its
// identifier was taken meanwhile. An account given without a subject id
// gets a new one: whatever creates accounts, each has one from its first
// write.
func (s Accounts) CreateAccount(ctx context.Context, a account.Account) error {
	if a.Subject == "" {
		a.Subject = account.NewSubject()
	}
	if key := account.NormaliseEmail(a.Email); key != "" {
		if err := s.addEmail(ctx, key, a.ID); err != nil {
			return err
		}
	}
	for _, g := range a.Guardians {
		if err := s.addChild(ctx, g, a.ID); err != nil {
			return err
		}
	}
	err := s.insertOne(ctx, colAccounts, fromAccount(a))
	if mongo.IsDuplicateKeyError(err) {
		return account.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("store: create account: %w", err)
	}
	return nil
}

// subjectDoc is the subject id settled for an account created before
// subject ids existed. Its _id is the account's: of concurrent first uses
// (two instances, two requests), the one whose insert lands first gives
// the value, the others read it. A conditional update of the account
// ("set subject where there is none") would not do: FerretDB v1 runs it as
// a read and a blind write, so two racers could each believe their own
// value stored.
type subjectDoc struct {
	ID      string `bson:"_id"`
	Subject string `bson:"subject"`
}

// AssignSubject gives the account id the subject candidate unless it
// already has one, and returns the one it keeps.
func (s Accounts) AssignSubject(ctx context.Context, id, candidate string) (string, error) {
	a, err := s.GetAccount(ctx, id)
	if err != nil {
		return "", err
	}
	if a.Subject != "" {
		return a.Subject, nil
	}
	sub := candidate
	err = s.insertOne(ctx, colSubjects, subjectDoc{ID: id, Subject: candidate})
	if mongo.IsDuplicateKeyError(err) {
		var d subjectDoc
		if err := s.wdb.Collection(colSubjects).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d); err != nil {
			return "", fmt.Errorf("store: read subject: %w", err)
		}
		sub = d.Subject
	} else if err != nil {
		return "", fmt.Errorf("store: settle subject: %w", err)
	}
	// Every caller writes the value settled above, so this write needs no
	// condition: a racer's write is the same value again.
	res, err := s.wdb.Collection(colAccounts).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "subject", Value: sub}}}})
	if err != nil {
		return "", fmt.Errorf("store: assign subject: %w", err)
	}
	if res.MatchedCount == 0 {
		return "", account.ErrNotFound
	}
	return sub, nil
}

// childrenDoc lists the accounts that name a guardian, keyed by the
// guardian's id: « Mes enfants » is then a key lookup, like an address's
// accounts (see emailDoc), kept in step the same way: added before the
// child is written, removed after, and checked against the child's own
// guardians when read.
type childrenDoc struct {
	ID  string   `bson:"_id"`
	IDs []string `bson:"ids"`
}

func (s *Store) addChild(ctx context.Context, guardian, child string) error {
	err := upsertRetry(func() error {
		_, err := s.wdb.Collection(colChildren).UpdateOne(ctx, bson.D{{Key: "_id", Value: guardian}},
			bson.D{{Key: "$addToSet", Value: bson.D{{Key: "ids", Value: child}}}}, options.UpdateOne().SetUpsert(true))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: index child: %w", err)
	}
	return nil
}

func (s *Store) removeChild(ctx context.Context, guardian, child string) error {
	_, err := s.wdb.Collection(colChildren).UpdateOne(ctx, bson.D{{Key: "_id", Value: guardian}},
		bson.D{{Key: "$pull", Value: bson.D{{Key: "ids", Value: child}}}})
	if err != nil {
		return fmt.Errorf("store: unindex child: %w", err)
	}
	return nil
}

// ChildrenOf returns the accounts that name id among their guardians,
// ordered by identifier.
func (s Accounts) ChildrenOf(ctx context.Context, id string) ([]account.Account, error) {
	var d childrenDoc
	err := s.db.Collection(colChildren).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: children: %w", err)
	}
	var out []account.Account
	for _, cid := range d.IDs {
		c, err := s.GetAccount(ctx, cid)
		if errors.Is(err, account.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if slices.Contains(c.Guardians, id) {
			out = append(out, c)
		}
	}
	sortAccounts(out)
	return out, nil
}

// patchFields lists the fields a patch sets, by their stored names.
func patchFields(p account.Patch, now time.Time) bson.D {
	set := bson.D{{Key: "updatedAt", Value: now}}
	add := func(key string, v any) { set = append(set, bson.E{Key: key, Value: v}) }
	str := func(key string, v *string) {
		if v != nil {
			add(key, *v)
		}
	}
	tm := func(key string, v *time.Time) {
		if v != nil {
			add(key, *v)
		}
	}
	boolean := func(key string, v *bool) {
		if v != nil {
			add(key, *v)
		}
	}
	str("identifier", p.Identifier)
	str("email", p.Email)
	str("emailSetBy", p.EmailSetBy)
	str("firstName", p.FirstName)
	str("lastName", p.LastName)
	str("population", p.Population)
	if p.Status != nil {
		add("status", string(*p.Status))
	}
	str("passwordHash", p.PasswordHash)
	str("passwordSetBy", p.PasswordSetBy)
	tm("passwordChangedAt", p.PasswordChangedAt)
	tm("provisionalUntil", p.ProvisionalUntil)
	str("phone", p.Phone)
	boolean("newsletter", p.Newsletter)
	tm("newsletterAt", p.NewsletterAt)
	str("pendingEmail", p.PendingEmail)
	str("pendingEmailId", p.PendingEmailID)
	str("charterVersion", p.CharterVersion)
	tm("charterAt", p.CharterAt)
	boolean("directory", p.Directory)
	tm("directoryAt", p.DirectoryAt)
	str("redirectTo", p.RedirectTo)
	boolean("redirectCopy", p.RedirectCopy)
	str("mailbox", p.Mailbox)
	tm("activatedAt", p.ActivatedAt)
	if p.Guardians != nil {
		add("guardians", *p.Guardians)
	}
	return set
}

// PatchAccount sets only the fields p names, in one single-document
// update: a concurrent write of other fields is never undone. A new
// address is indexed before the write and the old one unindexed after
// (readers check each account's own address, see emailDoc).
func (s Accounts) PatchAccount(ctx context.Context, id string, p account.Patch, now time.Time) error {
	var oldKey string
	var oldGuardians []string
	if p.Email != nil || p.Guardians != nil {
		cur, err := s.GetAccount(ctx, id)
		if err != nil {
			return err
		}
		oldGuardians = cur.Guardians
		if p.Guardians != nil {
			for _, g := range *p.Guardians {
				if !slices.Contains(cur.Guardians, g) {
					if err := s.addChild(ctx, g, id); err != nil {
						return err
					}
				}
			}
		}
		oldKey = account.NormaliseEmail(cur.Email)
		if p.Email != nil {
			if newKey := account.NormaliseEmail(*p.Email); newKey != "" && newKey != oldKey {
				if err := s.addEmail(ctx, newKey, id); err != nil {
					return err
				}
			}
		}
	}
	// A filter of _id alone is the one the embedded server looks up by
	// key; a condition makes it read the collection, so only the import's
	// rare password replacements carry one.
	filter := bson.D{{Key: "_id", Value: id}}
	if p.IfPasswordSetBy != nil {
		filter = append(filter, bson.E{Key: "passwordSetBy", Value: *p.IfPasswordSetBy})
	}
	res, err := s.wdb.Collection(colAccounts).UpdateOne(ctx, filter, bson.D{{Key: "$set", Value: patchFields(p, now)}})
	if err != nil {
		return fmt.Errorf("store: patch account: %w", err)
	}
	if res.MatchedCount == 0 {
		if p.IfPasswordSetBy != nil {
			if _, err := s.GetAccount(ctx, id); err == nil {
				return account.ErrConflict
			}
		}
		return account.ErrNotFound
	}
	if p.Email != nil && oldKey != "" && oldKey != account.NormaliseEmail(*p.Email) {
		if err := s.removeEmail(ctx, oldKey, id); err != nil {
			return err
		}
	}
	if p.Guardians != nil {
		for _, g := range oldGuardians {
			if !slices.Contains(*p.Guardians, g) {
				if err := s.removeChild(ctx, g, id); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (s *Store) addEmail(ctx context.Context, key, id string) error {
	// On the embedded server $addToSet is a read and a rewrite, so two
	// children imported at once onto one parent's address could lose one.
	// Writers of one address take turns in this process, and read back.
	mu := s.emailLock(key)
	mu.Lock()
	defer mu.Unlock()
	for range 10 {
		err := upsertRetry(func() error {
			_, err := s.wdb.Collection(colEmails).UpdateOne(ctx,
				bson.D{{Key: "_id", Value: key}},
				bson.D{{Key: "$addToSet", Value: bson.D{{Key: "ids", Value: id}}}},
				options.UpdateOne().SetUpsert(true))
			return err
		})
		if err != nil {
			return fmt.Errorf("store: index e-mail: %w", err)
		}
		var e emailDoc
		if err := s.db.Collection(colEmails).FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&e); err != nil {
			return fmt.Errorf("store: index e-mail: %w", err)
		}
		if slices.Contains(e.IDs, id) {
			return nil
		}
	}
	return fmt.Errorf("store: index e-mail: %s not kept after 10 tries", id)
}

// upsertRetry runs an upsert again when a concurrent one inserted the same
// _id first (a duplicate-key error, on MongoDB as on the embedded server).
func upsertRetry(f func() error) error {
	var err error
	for range 3 {
		if err = f(); !mongo.IsDuplicateKeyError(err) {
			return err
		}
	}
	return err
}

func (s *Store) removeEmail(ctx context.Context, key, id string) error {
	mu := s.emailLock(key)
	mu.Lock()
	defer mu.Unlock()
	_, err := s.wdb.Collection(colEmails).UpdateOne(ctx,
		bson.D{{Key: "_id", Value: key}},
		bson.D{{Key: "$pull", Value: bson.D{{Key: "ids", Value: id}}}})
	if err != nil {
		return fmt.Errorf("store: unindex e-mail: %w", err)
	}
	return nil
}

// absentAccount is an account _id no identifier can be: identifiers are
// letters, digits and . _ @ - (account.validIdentifier).
const absentAccount = "~absent"

// AccountsByEmail returns the accounts whose address is email, ordered by
// identifier. Index entries whose account has since changed address are
// skipped.
func (s Accounts) AccountsByEmail(ctx context.Context, email string) ([]account.Account, error) {
	key := account.NormaliseEmail(email)
	var e emailDoc
	err := s.db.Collection(colEmails).FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&e)
	if errors.Is(err, mongo.ErrNoDocuments) {
		// An address nobody has costs what an address of one account
		// costs, the same two lookups by _id, so that the time of a
		// sign-in does not tell whether an address is known.
		if _, err := s.GetAccount(ctx, absentAccount); !errors.Is(err, account.ErrNotFound) {
			return nil, fmt.Errorf("store: accounts by e-mail: %w", err)
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: accounts by e-mail: %w", err)
	}
	var out []account.Account
	for _, id := range e.IDs {
		a, err := s.GetAccount(ctx, id)
		if errors.Is(err, account.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if account.NormaliseEmail(a.Email) == key {
			out = append(out, a)
		}
	}
	sortAccounts(out)
	return out, nil
}

func sortAccounts(as []account.Account) {
	slices.SortFunc(as, func(a, b account.Account) int { return strings.Compare(a.ID, b.ID) })
}

// CountAccounts returns how many accounts exist.
func (s Accounts) CountAccounts(ctx context.Context) (int64, error) {
	n, err := s.db.Collection(colAccounts).EstimatedDocumentCount(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: count accounts: %w", err)
	}
	return n, nil
}

// utc keeps a zero time zero (UTC() of a zero time is not IsZero-safe
// across BSON round trips otherwise).
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// SetPassword replaces an account's password with one the person chose,
// and makes a pending account active.
func (s Accounts) SetPassword(ctx context.Context, id, hash string, now time.Time) error {
	res, err := s.wdb.Collection(colAccounts).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "passwordHash", Value: hash},
		{Key: "passwordSetBy", Value: account.SetByUser},
		{Key: "passwordChangedAt", Value: now},
		{Key: "status", Value: string(account.StatusActive)},
		{Key: "updatedAt", Value: now},
		// A new password voids a pending change of address: someone who
		// held a session must not keep the account through a link.
		{Key: "pendingEmail", Value: ""},
		{Key: "pendingEmailId", Value: ""},
	}}})
	if err != nil {
		return fmt.Errorf("store: set password: %w", err)
	}
	if res.MatchedCount == 0 {
		return account.ErrNotFound
	}
	return nil
}

// emailLock returns the lock of an address's index entry.
func (s *Store) emailLock(key string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(key))
	return &s.emailLocks[h.Sum32()%uint32(len(s.emailLocks))]
}
