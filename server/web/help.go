package web

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/frontend/views"
)

// helpPage shows a help desk: the support desk at /help, a population's
// own at /help/:population. It says whether the desk is open now and when
// it next opens, in the school's time zone.
func (s *Server) helpPage(c *fiber.Ctx) error {
	t := s.t(c)
	contact, heading := s.school.Support, t.T("help.title")
	key := c.Params("population")
	if key != "" {
		p, ok := s.school.Population(key)
		if !ok || !s.school.NeedsChooser() {
			return fiber.ErrNotFound
		}
		contact = *p.Help
		heading = t.T("help.title_population", "Label", p.NameText(t.Lang()))
	}
	p := views.HelpProps{
		Base:    s.page(c, heading),
		Heading: heading,
		Text:    contact.Text(t.Lang()),
		Email:   contact.Email,
		Phone:   contact.Phone,
		URL:     contact.URL,
		Address: contact.Address(t.Lang()),
	}
	if contact.Phone != "" {
		p.PhoneHref = "tel:" + strings.Map(func(r rune) rune {
			if r == '+' || r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, contact.Phone)
	}
	now := s.now().In(s.loc)
	st := contact.Hours.Status(now, s.loc)
	p.Known, p.Open, p.StatusLine = st.Known, st.Open, s.statusLine(t, st, now)
	for _, w := range contact.Hours.Week() {
		slot := views.HelpSlot{
			Day:   capitalise(t.T("day." + strconv.Itoa(int(w.Weekday)))),
			Hours: hoursRange(t, w.From, w.To),
		}
		if len(w.Months) > 0 {
			var ms []string
			for _, m := range w.Months {
				ms = append(ms, t.T("month."+strconv.Itoa(m)))
			}
			slot.Note = t.T("help.only_months", "Months", strings.Join(ms, ", "))
		}
		p.Week = append(p.Week, slot)
	}
	today := now.Format(time.DateOnly)
	for _, cl := range contact.Hours.Closures {
		if cl.To < today {
			continue // past holidays are of no use to anyone
		}
		from, to := s.longDate(t, cl.From), s.longDate(t, cl.To)
		if label := cl.LabelText(t.Lang()); label != "" {
			p.Closures = append(p.Closures, t.T("help.closure_range", "Label", label, "From", from, "To", to))
		} else {
			p.Closures = append(p.Closures, t.T("help.closure_range_nolabel", "From", from, "To", to))
		}
	}
	if key == "" && s.school.NeedsChooser() {
		for _, pop := range s.school.Populations {
			if pop.Help != nil && pop.Help.Email != s.school.Support.Email {
				p.Others = append(p.Others, views.Choice{Href: "/help/" + pop.Key, Label: pop.NameText(t.Lang())})
			}
		}
	}
	return render(c, fiber.StatusOK, views.Help(p))
}
