package helpdesk

import (
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // so Europe/Paris loads on machines without system tzdata
)

func paris(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatalf("load Europe/Paris: %v", err)
	}
	return loc
}

// realHours is the help desk of the school that motivated the package.
func realHours() Hours {
	return Hours{
		Slots: []Slot{
			{Day: "monday", From: "16:30", To: "18:30", Months: []int{9}},
			{Day: "Mardi", From: "14:00", To: "16:00"},
			{Day: "wednesday", From: "14:00", To: "16:00"},
			{Day: "JEUDI", From: "16:30", To: "18:00"},
		},
		Closures: []DateRange{{
			From:  "2026-10-17",
			To:    "2026-11-02",
			Label: map[string]string{"fr": "Vacances de la Toussaint", "en": "All Saints' holiday"},
		}},
	}
}

func TestStatus(t *testing.T) {
	loc := paris(t)
	at := func(y int, m time.Month, d, hh, mm int) time.Time {
		return time.Date(y, m, d, hh, mm, 0, 0, loc)
	}
	utc := func(y int, m time.Month, d, hh, mm int) time.Time {
		return time.Date(y, m, d, hh, mm, 0, 0, time.UTC)
	}
	noClosures := realHours()
	noClosures.Closures = nil

	tests := []struct {
		name        string
		hours       Hours
		now         time.Time
		want        Status // Closure is compared by label only
		wantClosure string
	}{
		{
			name:  "tuesday 15:00 open",
			hours: realHours(),
			now:   at(2026, 9, 1, 15, 0),
			want:  Status{Known: true, Open: true, ClosesAt: at(2026, 9, 1, 16, 0)},
		},
		{
			name:  "tuesday 14:00 exactly open (from is inclusive)",
			hours: realHours(),
			now:   at(2026, 9, 1, 14, 0),
			want:  Status{Known: true, Open: true, ClosesAt: at(2026, 9, 1, 16, 0)},
		},
		{
			name:  "tuesday 16:00 exactly closed (to is exclusive)",
			hours: realHours(),
			now:   at(2026, 9, 1, 16, 0),
			want:  Status{Known: true, NextOpen: at(2026, 9, 2, 14, 0), NextClose: at(2026, 9, 2, 16, 0)},
		},
		{
			name:  "tuesday 15:59:59 still open",
			hours: realHours(),
			now:   at(2026, 9, 1, 15, 59).Add(59 * time.Second),
			want:  Status{Known: true, Open: true, ClosesAt: at(2026, 9, 1, 16, 0)},
		},
		{
			name:  "monday 17:00 in September open",
			hours: realHours(),
			now:   at(2026, 9, 28, 17, 0),
			want:  Status{Known: true, Open: true, ClosesAt: at(2026, 9, 28, 18, 30)},
		},
		{
			name:  "monday 17:00 in October closed",
			hours: realHours(),
			now:   at(2026, 10, 5, 17, 0),
			want:  Status{Known: true, NextOpen: at(2026, 10, 6, 14, 0), NextClose: at(2026, 10, 6, 16, 0)},
		},
		{
			name:  "monday morning in September opens the same afternoon",
			hours: realHours(),
			now:   at(2026, 9, 28, 9, 0),
			want:  Status{Known: true, NextOpen: at(2026, 9, 28, 16, 30), NextClose: at(2026, 9, 28, 18, 30)},
		},
		{
			name:  "friday evening in September opens monday across the weekend",
			hours: realHours(),
			now:   at(2026, 9, 25, 18, 0),
			want:  Status{Known: true, NextOpen: at(2026, 9, 28, 16, 30), NextClose: at(2026, 9, 28, 18, 30)},
		},
		{
			name:  "friday in August skips monday 31 August (not September)",
			hours: realHours(),
			now:   at(2026, 8, 28, 18, 0),
			want:  Status{Known: true, NextOpen: at(2026, 9, 1, 14, 0), NextClose: at(2026, 9, 1, 16, 0)},
		},
		{
			name:  "friday before Toussaint, closure not yet in effect",
			hours: realHours(),
			now:   at(2026, 10, 16, 18, 0),
			want:  Status{Known: true, NextOpen: at(2026, 11, 3, 14, 0), NextClose: at(2026, 11, 3, 16, 0)},
		},
		{
			name:        "first day of Toussaint at midnight",
			hours:       realHours(),
			now:         at(2026, 10, 17, 0, 0),
			want:        Status{Known: true, NextOpen: at(2026, 11, 3, 14, 0), NextClose: at(2026, 11, 3, 16, 0)},
			wantClosure: "Vacances de la Toussaint",
		},
		{
			name:        "tuesday during Toussaint closed at opening time",
			hours:       realHours(),
			now:         at(2026, 10, 20, 15, 0),
			want:        Status{Known: true, NextOpen: at(2026, 11, 3, 14, 0), NextClose: at(2026, 11, 3, 16, 0)},
			wantClosure: "Vacances de la Toussaint",
		},
		{
			name:        "last second of Toussaint still closed",
			hours:       realHours(),
			now:         at(2026, 11, 2, 23, 59).Add(59 * time.Second),
			want:        Status{Known: true, NextOpen: at(2026, 11, 3, 14, 0), NextClose: at(2026, 11, 3, 16, 0)},
			wantClosure: "Vacances de la Toussaint",
		},
		{
			name:  "day after Toussaint open",
			hours: realHours(),
			now:   at(2026, 11, 3, 14, 30),
			want:  Status{Known: true, Open: true, ClosesAt: at(2026, 11, 3, 16, 0)},
		},
		{
			name:  "spring forward weekend: saturday CET to tuesday CEST",
			hours: realHours(),
			now:   at(2026, 3, 28, 12, 0),
			want:  Status{Known: true, NextOpen: utc(2026, 3, 31, 12, 0), NextClose: utc(2026, 3, 31, 14, 0)},
		},
		{
			name:  "fall back weekend: friday CEST to tuesday CET",
			hours: noClosures,
			now:   at(2026, 10, 23, 18, 0),
			want:  Status{Known: true, NextOpen: utc(2026, 10, 27, 13, 0), NextClose: utc(2026, 10, 27, 15, 0)},
		},
		{
			name:        "fall back weekend inside Toussaint",
			hours:       realHours(),
			now:         at(2026, 10, 24, 12, 0),
			want:        Status{Known: true, NextOpen: utc(2026, 11, 3, 13, 0), NextClose: utc(2026, 11, 3, 15, 0)},
			wantClosure: "Vacances de la Toussaint",
		},
		{
			name:  "slot on the spring forward sunday spanning the gap",
			hours: Hours{Slots: []Slot{{Day: "sunday", From: "01:00", To: "04:00"}}},
			now:   utc(2026, 3, 29, 1, 30), // 03:30 CEST
			want:  Status{Known: true, Open: true, ClosesAt: utc(2026, 3, 29, 2, 0)},
		},
		{
			name:  "slot on the fall back sunday",
			hours: Hours{Slots: []Slot{{Day: "dimanche", From: "09:00", To: "12:00"}}},
			now:   utc(2026, 10, 25, 7, 0), // 08:00 CET, an hour before opening
			want:  Status{Known: true, NextOpen: utc(2026, 10, 25, 8, 0), NextClose: utc(2026, 10, 25, 11, 0)},
		},
		{
			name:  "now given in UTC is interpreted in Paris",
			hours: realHours(),
			now:   utc(2026, 9, 1, 13, 30), // 15:30 CEST
			want:  Status{Known: true, Open: true, ClosesAt: at(2026, 9, 1, 16, 0)},
		},
		{
			name:  "adjacent slots merge into one opening",
			hours: Hours{Slots: []Slot{{Day: "tuesday", From: "16:00", To: "17:00"}, {Day: "tuesday", From: "14:00", To: "16:00"}}},
			now:   at(2026, 9, 1, 15, 0),
			want:  Status{Known: true, Open: true, ClosesAt: at(2026, 9, 1, 17, 0)},
		},
		{
			name:  "no slots",
			hours: Hours{},
			now:   at(2026, 9, 1, 15, 0),
			want:  Status{},
		},
		{
			name:        "no slots but a closure still reports the closure",
			hours:       Hours{Closures: realHours().Closures},
			now:         at(2026, 10, 20, 15, 0),
			want:        Status{},
			wantClosure: "Vacances de la Toussaint",
		},
		{
			name:  "only invalid slots count as no slots",
			hours: Hours{Slots: []Slot{{Day: "funday", From: "14:00", To: "16:00"}, {Day: "tuesday", From: "16:00", To: "14:00"}}},
			now:   at(2026, 9, 1, 15, 0),
			want:  Status{},
		},
		{
			name: "invalid slots and closures are ignored",
			hours: Hours{
				Slots: []Slot{
					{Day: "tuesday", From: "14:00", To: "16:00", Months: []int{13}},
					{Day: "tuesday", From: "14h", To: "16:00"},
					{Day: "wednesday", From: "14:00", To: "16:00"},
				},
				Closures: []DateRange{{From: "2026-09-02", To: "2026-09-01"}, {From: "bad", To: "2026-12-31"}},
			},
			now:  at(2026, 9, 1, 15, 0),
			want: Status{Known: true, NextOpen: at(2026, 9, 2, 14, 0), NextClose: at(2026, 9, 2, 16, 0)},
		},
		{
			name:        "closed for more than a year has no next opening",
			hours:       Hours{Slots: realHours().Slots, Closures: []DateRange{{From: "2026-01-01", To: "2027-12-31", Label: map[string]string{"en": "Works"}}}},
			now:         at(2026, 9, 1, 15, 0),
			want:        Status{Known: true},
			wantClosure: "Works",
		},
		{
			name:  "september-only slot found eleven months ahead",
			hours: Hours{Slots: []Slot{{Day: "monday", From: "16:30", To: "18:30", Months: []int{9}}}},
			now:   at(2026, 10, 1, 12, 0),
			want:  Status{Known: true, NextOpen: at(2027, 9, 6, 16, 30), NextClose: at(2027, 9, 6, 18, 30)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.hours.Status(tt.now, loc)
			gotClosure := ""
			if got.Closure != nil {
				gotClosure = got.Closure.LabelText("fr")
				if gotClosure == "" {
					gotClosure = "(unlabelled)"
				}
			}
			if gotClosure != tt.wantClosure {
				t.Errorf("Closure = %q, want %q", gotClosure, tt.wantClosure)
			}
			got.Closure = nil
			if !statusEqual(got, tt.want) {
				t.Errorf("Status(%v) =\n  %s\nwant\n  %s", tt.now, fmtStatus(got), fmtStatus(tt.want))
			}
		})
	}
}

// statusEqual compares instants with Equal so that the same instant in
// different locations (UTC in the table, Paris from Status) is equal.
func statusEqual(a, b Status) bool {
	return a.Known == b.Known && a.Open == b.Open &&
		a.ClosesAt.Equal(b.ClosesAt) && a.NextOpen.Equal(b.NextOpen) && a.NextClose.Equal(b.NextClose)
}

func fmtStatus(s Status) string {
	f := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Format(time.RFC3339)
	}
	return "Known=" + boolStr(s.Known) + " Open=" + boolStr(s.Open) +
		" ClosesAt=" + f(s.ClosesAt) + " NextOpen=" + f(s.NextOpen) + " NextClose=" + f(s.NextClose)
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func TestStatusReturnsInLocation(t *testing.T) {
	loc := paris(t)
	st := realHours().Status(time.Date(2026, 9, 1, 13, 0, 0, 0, time.UTC), loc)
	if st.ClosesAt.Location() != loc {
		t.Errorf("ClosesAt location = %v, want %v", st.ClosesAt.Location(), loc)
	}
}

func TestStatusClosureIsACopy(t *testing.T) {
	loc := paris(t)
	h := realHours()
	st := h.Status(time.Date(2026, 10, 20, 12, 0, 0, 0, loc), loc)
	if st.Closure == nil {
		t.Fatal("Closure = nil during Toussaint")
	}
	st.Closure.From = "2000-01-01"
	if h.Closures[0].From != "2026-10-17" {
		t.Errorf("modifying Status.Closure changed the configuration: %q", h.Closures[0].From)
	}
}

func TestStatusNilLocationDoesNotPanic(t *testing.T) {
	loc := paris(t)
	now := time.Date(2026, 9, 1, 15, 0, 0, 0, loc)
	st := realHours().Status(now, nil)
	if !st.Open {
		t.Errorf("Status(nil loc) Open = false, want true (nil loc means now's location)")
	}
}

func TestWeek(t *testing.T) {
	h := Hours{Slots: []Slot{
		{Day: "dimanche", From: "9:00", To: "10:00"},
		{Day: "thursday", From: "16:30", To: "18:00"},
		{Day: "tuesday", From: "14:00", To: "16:00"},
		{Day: "funday", From: "14:00", To: "16:00"}, // invalid: left out
		{Day: "Monday", From: "16:30", To: "18:30", Months: []int{10, 9}},
		{Day: "tuesday", From: "09:00", To: "11:00"},
	}}
	want := []WeekLine{
		{Weekday: time.Monday, From: "16:30", To: "18:30", Months: []int{9, 10}},
		{Weekday: time.Tuesday, From: "09:00", To: "11:00"},
		{Weekday: time.Tuesday, From: "14:00", To: "16:00"},
		{Weekday: time.Thursday, From: "16:30", To: "18:00"},
		{Weekday: time.Sunday, From: "09:00", To: "10:00"},
	}
	got := h.Week()
	if !slices.EqualFunc(got, want, func(a, b WeekLine) bool {
		return a.Weekday == b.Weekday && a.From == b.From && a.To == b.To && slices.Equal(a.Months, b.Months)
	}) {
		t.Errorf("Week() =\n  %+v\nwant\n  %+v", got, want)
	}
	if got := (Hours{}).Week(); len(got) != 0 {
		t.Errorf("Week() with no slots = %+v, want empty", got)
	}
}

func TestText(t *testing.T) {
	tests := []struct {
		name  string
		texts map[string]string
		lang  string
		want  string
	}{
		{"exact", map[string]string{"fr": "Bonjour", "en": "Hello"}, "en", "Hello"},
		{"region falls back to base", map[string]string{"fr": "Bonjour", "en": "Hello"}, "en-GB", "Hello"},
		{"missing falls back to fr", map[string]string{"fr": "Bonjour", "en": "Hello"}, "de", "Bonjour"},
		{"empty value falls back to fr", map[string]string{"fr": "Bonjour", "en": ""}, "en", "Bonjour"},
		{"no fr falls back to any", map[string]string{"es": "Hola"}, "de", "Hola"},
		{"any is deterministic", map[string]string{"es": "Hola", "de": "Hallo", "it": "Ciao"}, "pt", "Hallo"},
		{"nothing", nil, "fr", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Contact{Texts: tt.texts}).Text(tt.lang); got != tt.want {
				t.Errorf("Text(%q) = %q, want %q", tt.lang, got, tt.want)
			}
			if got := (DateRange{Label: tt.texts}).LabelText(tt.lang); got != tt.want {
				t.Errorf("LabelText(%q) = %q, want %q", tt.lang, got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	valid := func() Contact {
		return Contact{
			Texts: map[string]string{"fr": "Le secrétariat vous répond.", "en": "The office answers."},
			Email: "secretariat@example.fr",
			Phone: "+33 1 23 45 67 89",
			URL:   "https://example.fr/contact",
			Hours: realHours(),
		}
	}
	tests := []struct {
		name   string
		modify func(c *Contact)
		want   []string // fields, in order
	}{
		{"real example is valid", func(c *Contact) {}, nil},
		{"empty contact is valid", func(c *Contact) { *c = Contact{} }, nil},
		{"bad day", func(c *Contact) { c.Hours.Slots[1].Day = "tuesdy" }, []string{"hours.slots[1].day"}},
		{"empty day", func(c *Contact) { c.Hours.Slots[0].Day = "" }, []string{"hours.slots[0].day"}},
		{"bad from", func(c *Contact) { c.Hours.Slots[1].From = "14h00" }, []string{"hours.slots[1].from"}},
		{"hour out of range", func(c *Contact) { c.Hours.Slots[2].To = "24:00" }, []string{"hours.slots[2].to"}},
		{"minute out of range", func(c *Contact) { c.Hours.Slots[2].From = "14:60" }, []string{"hours.slots[2].from"}},
		{"to equals from", func(c *Contact) { c.Hours.Slots[3].To = "16:30" }, []string{"hours.slots[3].to"}},
		{"to before from", func(c *Contact) { c.Hours.Slots[3].To = "09:00" }, []string{"hours.slots[3].to"}},
		{"month 13", func(c *Contact) { c.Hours.Slots[0].Months = []int{9, 13} }, []string{"hours.slots[0].months[1]"}},
		{"month 0", func(c *Contact) { c.Hours.Slots[0].Months = []int{0} }, []string{"hours.slots[0].months[0]"}},
		{"duplicate month", func(c *Contact) { c.Hours.Slots[0].Months = []int{9, 9} }, []string{"hours.slots[0].months[1]"}},
		{"bad closure from", func(c *Contact) { c.Hours.Closures[0].From = "17/10/2026" }, []string{"hours.closures[0].from"}},
		{"impossible closure date", func(c *Contact) { c.Hours.Closures[0].To = "2026-02-30" }, []string{"hours.closures[0].to"}},
		{"closure to before from", func(c *Contact) { c.Hours.Closures[0].To = "2026-10-16" }, []string{"hours.closures[0].to"}},
		{"in-person address", func(c *Contact) {
			c.Addresses = map[string]string{"fr": "Maison des associations, salle 3\n12 rue Pierre Julien\n26200 Montélimar"}
		}, nil},
		{"address too long", func(c *Contact) { c.Addresses = map[string]string{"fr": strings.Repeat("rue ", 80)} }, []string{"address.fr"}},
		{"address with a control character", func(c *Contact) { c.Addresses = map[string]string{"en": "Room 3\u202e"} }, []string{"address.en"}},
		{"email without @", func(c *Contact) { c.Email = "secretariat.example.fr" }, []string{"email"}},
		{"email with space", func(c *Contact) { c.Email = "secr etariat@example.fr" }, []string{"email"}},
		{"bad phone", func(c *Contact) { c.Phone = "secretariat@example.fr" }, []string{"phone"}},
		{"bad url", func(c *Contact) { c.URL = "example.fr/contact" }, []string{"url"}},
		{"empty language", func(c *Contact) { c.Texts[""] = "?" }, []string{"text"}},
		{"several problems reported together", func(c *Contact) {
			c.Email = "nobody"
			c.Hours.Slots[0].Day = "someday"
			c.Hours.Slots[0].From = "x"
			c.Hours.Closures[0].From = "y"
		}, []string{"email", "hours.slots[0].day", "hours.slots[0].from", "hours.closures[0].from"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.modify(&c)
			ps := c.Validate()
			var got []string
			for _, p := range ps {
				got = append(got, p.Field)
				if p.Message == "" {
					t.Errorf("problem %q has no message", p.Field)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Validate() fields = %q, want %q (problems: %v)", got, tt.want, ps)
			}
		})
	}
}

func TestStatusAllocations(t *testing.T) {
	loc := paris(t)
	h := realHours()
	now := time.Date(2026, 10, 16, 18, 0, 0, 0, loc) // searches across the whole closure
	allocs := testing.AllocsPerRun(100, func() { _ = h.Status(now, loc) })
	// compile allocates the two slices; parsing and the day loop must not.
	if allocs > 2 {
		t.Errorf("Status allocates %.0f times per call, want at most 2", allocs)
	}
}

// TestAddress: the in-person address comes in the person's language, one
// line per element, blank lines dropped.
func TestAddress(t *testing.T) {
	c := Contact{Addresses: map[string]string{"fr": "Salle 3\n\n 12 rue Pierre Julien \n26200 Montélimar\n", "en": "Room 3\n12 rue Pierre Julien\n26200 Montélimar"}}
	if got := c.Address("fr"); !slices.Equal(got, []string{"Salle 3", "12 rue Pierre Julien", "26200 Montélimar"}) {
		t.Errorf("fr: %q", got)
	}
	if got := c.Address("en"); got[0] != "Room 3" {
		t.Errorf("en: %q", got)
	}
	if got := (Contact{}).Address("fr"); got != nil {
		t.Errorf("no address: %q", got)
	}
}
