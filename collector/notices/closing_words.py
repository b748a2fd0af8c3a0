"""Sentences of the closing-link and portal pages said from code (collector.closing.api):
marked here so that the notices' catalog has them; translated where they are shown."""

from __future__ import annotations

from collector.notices.i18n import N_

CANNOT_USE = N_("This link cannot be used")
USED = N_("This link was used already.")
ANSWERED_ON = N_("The answer was recorded on %(when)s.")
NOTHING_LEFT = N_("There is nothing left to answer.")
IS_IT_SOLVED = N_("Is this solved?")
NOT_SOLVED = N_("Not solved? Tell us what is still wrong")
EXPIRED = N_("This link has expired. Please contact your service provider.")
BAD_RATING = N_("A rating is a whole number from 1 to 5.")
NOT_VALID = N_("This link is not valid. Please use the link from the e-mail as it is.")
THANK_YOU = N_("Thank you")
CLOSED = N_("Thank you: %(key)s is closed.")
REOPENED = N_("Thank you: %(key)s is reopened and we are on it again.")
YOU_CONFIRMED = N_("You confirmed this is solved.")
YOU_REOPENED = N_("You reported this is not solved; it was reopened.")
AUTO_CLOSED = N_("This was closed without an answer.")
WAITING = N_("Waiting for the client's answer.")
