"""The two workflow examples of the seed document, indentation restored under `jobs:`;
`{ref}` (the dataset) and `{url}` (the repository cloned) are what a user changes."""

SEED_READ = """\
jobs:
  job-1:
    inputs:
      my-dataset:
        type: dataset
        with:
          ref: {ref}
    uses: container@v1
    with:
      image: bash:5
      args: ["bash", "-c", "ls /inputs/my-dataset"]
"""

SEED_CHAIN = """\
jobs:
  job-1:
    outputs:
      my-dataset:
        type: dataset
        with:
          ref: {ref}
    uses: container@v1
    with:
      image: bitnami/git
      args:
        [
          "bash",
          "-c",
          "git clone {url} /outputs/my-dataset",
        ]
  job-2:
    needs:
      - job-1
    inputs:
      my-created-dataset: job-1.outputs.my-dataset
    uses: container@v1
    with:
      image: bash:5
      args: ["bash", "-c", "ls /inputs/my-created-dataset"]
"""
