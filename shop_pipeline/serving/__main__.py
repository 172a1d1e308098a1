from shop_pipeline.serving.server import main

main()
