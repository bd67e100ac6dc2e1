"""A program written for the original engine (wf-dagger 0.2.6), run unchanged on ours."""
