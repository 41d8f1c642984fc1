"""Inquire's web page: `python app.py [--host H] [--port P] [--corpus DIR] [--index DIR]`.

The page is built in `pipeline/web.py`; this file only starts it (so does `inquire serve`)."""
import sys

from pipeline.web import main

if __name__ == "__main__":
    sys.exit(main())
