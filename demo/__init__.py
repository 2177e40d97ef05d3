"""Demo-model training: the generated corpus and the build of models/. Not part of the bento."""
