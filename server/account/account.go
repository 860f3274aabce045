// Package account holds people's accounts: who they are, how their password
// is hashed, and how a school loads them from a spreadsheet.
//
// It imports neither the web framework nor the database driver; it declares
// the small interfaces it needs and the store implements them.
package account

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"
)

// Status is where an account stands in its life.
type Status string

const (
	// StatusPending accounts hold a provisional password from the school
	// office and must be activated before use.
	StatusPending Status = "pending"
	// StatusActive accounts can sign in.
	StatusActive Status = "active"
)

// Who last set an account's password. The import only replaces a password
// it set itself, so that re-running a nightly import never undoes a
// password a person chose.
const (
	SetByImport = "import"
	SetByUser   = "user"
	// SetByOffice marks a provisional password the office console printed
	// on a letter: the import leaves it alone, as it does a person's own.
	SetByOffice = "office"
)

// ErrNotFound means no account has this identifier.
var ErrNotFound = errors.New("account: not found")

// Account is one person's account.
type Account struct {
	// ID is the normalised identifier, the key of every lookup.
	ID string
	// Identifier is the identifier as the school wrote it, shown to people.
	Identifier string
	// Subject is the account's permanent, opaque id for other applications
	// (OpenID Connect's sub), drawn by NewSubject at creation and never
	// changed: not derived from the identifier, which a school may rename.
	// Accounts created before it existed get one at first use (SubjectOf).
	Subject       string
	Email         string
	FirstName     string
	LastName      string
	Population    string
	Status        Status
	PasswordHash  string
	PasswordSetBy string
	// PasswordChangedAt is when the person last chose a password; codes
	// issued before it are void.
	PasswordChangedAt time.Time
	// ProvisionalUntil is when a pending account's provisional password
	// stops working (the letter's « valable jusqu'au »); zero: no end, as
	// for a provisional password the school imported.
	ProvisionalUntil time.Time
	// Phone is in E.164 form (+33612345678), or empty.
	Phone string
	// Newsletter records consent to « la lettre », and when it was given
	// or withdrawn.
	Newsletter   bool
	NewsletterAt time.Time
	// EmailSetBy says who set Email: the import only replaces an address
	// it set itself, never one the person confirmed.
	EmailSetBy string
	// PendingEmail waits for its confirmation link; PendingEmailID names
	// the one link that may confirm it (a newer request, a password change
	// or a cancellation voids the others).
	PendingEmail   string
	PendingEmailID string
	// What activation recorded: the charter accepted (version and date),
	// the directory choice, the mailbox redirection and the institutional
	// address.
	CharterVersion string
	CharterAt      time.Time
	Directory      bool
	DirectoryAt    time.Time
	RedirectTo     string
	RedirectCopy   bool
	Mailbox        string
	ActivatedAt    time.Time
	// Guardians are the ids of the accounts of the person's legal
	// guardians (a student's parents): a student with no address of their
	// own recovers through them.
	Guardians []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// NormaliseIdentifier folds an identifier as typed into its key: people type
// member numbers in any case and with stray spaces around them.
func NormaliseIdentifier(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// NormaliseEmail folds an e-mail address into its key. The local part is
// case-sensitive in theory, but no school's mail system treats it so, and
// parents type it in any case on phones.
func NormaliseEmail(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// validIdentifier accepts the member numbers and logins schools use:
// letters, digits and . _ - @, up to 64 characters.
func validIdentifier(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) || strings.ContainsRune("._-@", r)) {
			return false
		}
	}
	return true
}

// Plausible reports whether what a person typed in an "identifier or
// e-mail" field could name an account at all. Text that cannot (control
// characters, a NUL byte, an address no mail system takes) is answered
// exactly like an unknown identifier, without being looked up: some
// MongoDB-compatible servers refuse a NUL in a query.
func Plausible(input string) bool {
	if IsEmail(input) {
		return ValidEmail(input)
	}
	return validIdentifier(NormaliseIdentifier(input))
}

// Store is what the account package needs from persistence.
type Store interface {
	Looker
	// CreateAccount stores a new account and indexes its address and its
	// guardians.
	CreateAccount(ctx context.Context, a Account) error
	Patcher
}

// Looker finds accounts; recovery and sign-in need only this.
type Looker interface {
	// GetAccount returns the account whose ID is id, or ErrNotFound.
	GetAccount(ctx context.Context, id string) (Account, error)
	// AccountsByEmail returns the accounts whose address is email.
	AccountsByEmail(ctx context.Context, email string) ([]Account, error)
	// ChildrenOf returns the accounts whose guardians include id.
	ChildrenOf(ctx context.Context, id string) ([]Account, error)
}

// ProvisionalExpired reports whether a pending account's provisional
// password has passed its letter's end at now.
func (a Account) ProvisionalExpired(now time.Time) bool {
	return a.Status == StatusPending && !a.ProvisionalUntil.IsZero() && !now.Before(a.ProvisionalUntil)
}

// FullName is the name as printed on letters and shown on pages.
func (a Account) FullName() string {
	return strings.TrimSpace(a.FirstName + " " + a.LastName)
}

// IsGuardianOf reports whether guardianID is one of child's guardians.
func (a Account) IsGuardianOf(child Account) bool {
	for _, g := range child.Guardians {
		if g == a.ID {
			return true
		}
	}
	return false
}

// IsEmail reports whether what a person typed in an "identifier or e-mail"
// field is an e-mail address: identifiers never contain "@" followed by a
// dot-separated domain.
func IsEmail(s string) bool {
	s = strings.TrimSpace(s)
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".")
}

// Patch is a change to some of an account's fields. A write applies only
// the fields that are set, so that two writes of different fields (a
// profile save and a password reset landing together) never undo each
// other, as rewriting a whole copy read earlier did.
type Patch struct {
	Identifier    *string
	Email         *string
	EmailSetBy    *string
	FirstName     *string
	LastName      *string
	Population    *string
	Status        *Status
	PasswordHash  *string
	PasswordSetBy *string
	// PasswordChangedAt voids codes issued before it.
	PasswordChangedAt *time.Time
	ProvisionalUntil  *time.Time
	Phone             *string
	Newsletter        *bool
	NewsletterAt      *time.Time
	PendingEmail      *string
	PendingEmailID    *string
	CharterVersion    *string
	CharterAt         *time.Time
	Directory         *bool
	DirectoryAt       *time.Time
	RedirectTo        *string
	RedirectCopy      *bool
	Mailbox           *string
	ActivatedAt       *time.Time
	Guardians         *[]string
	// IfPasswordSetBy, when set, applies the patch only while the stored
	// password was set by this party: the import never replaces a
	// password a person chose in the meantime.
	IfPasswordSetBy *string
}

// Set returns a pointer to v, for filling a Patch.
func Set[T any](v T) *T { return &v }

// ErrConflict means a conditional write found the account changed.
var ErrConflict = errors.New("account: changed meanwhile")

// Patcher changes some fields of an account.
type Patcher interface {
	// PatchAccount applies p to the account id and sets its update time;
	// ErrNotFound when there is none, ErrConflict when p's condition no
	// longer holds.
	PatchAccount(ctx context.Context, id string, p Patch, now time.Time) error
}
