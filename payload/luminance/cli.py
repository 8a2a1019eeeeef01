import sys
def main(argv=None):
    import PIL, requests
    print("ok", sys.executable, PIL.__version__, requests.__version__)
    return 0
