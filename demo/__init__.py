"""The demo value ladder (`make run`): development only, left out of the installed package (see ``demo.seed``)."""
